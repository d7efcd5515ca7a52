"""mplog._outputs.destinations: what setup_listener builds its Router from (a file and
console, handler objects or a factory, a dictConfig dict) and their errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mplog._outputs.destinations import ConfigDestination, FileDestination, HandlersDestination
from tests._helpers import ListHandler


def _rec(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)


def test_file_destination_builds_file_and_console(tmp_path: Path) -> None:
    """FileDestination writes formatted UTF-8 lines, escaping lone surrogates, and adds a
    console handler at the requested level."""
    path = tmp_path / "f.log"
    router = FileDestination(str(path), console=logging.ERROR, fmt="%(name)s:%(message)s").build()
    assert router.handle(_rec("n", "h\u00e9 \udcff"))
    console = [h for h in router.handlers if not isinstance(h, logging.FileHandler)]
    assert len(console) == 1 and console[0].level == logging.ERROR
    router.close()
    assert path.read_text(encoding="utf-8") == "n:h\u00e9 \\udcff\n"


def test_file_destination_rejects_bad_style() -> None:
    """An unknown format style is a clear ValueError at build time."""
    with pytest.raises(ValueError, match="style"):
        FileDestination("x.log", style="#").build()


def test_handlers_destination_objects_and_factory() -> None:
    """HandlersDestination uses handler objects as given, or calls a factory; anything
    that is not a Handler is a TypeError."""
    handler = ListHandler()
    assert HandlersDestination([handler]).build().handlers == [handler]
    assert HandlersDestination(lambda: [handler]).build().handlers == [handler]
    with pytest.raises(TypeError, match=r"logging\.Handler"):
        HandlersDestination(["not a handler"]).build()  # type: ignore[list-item]


def test_config_destination_routes_like_dictconfig(tmp_path: Path) -> None:
    """A dictConfig dict builds routes with per-logger handlers, propagate and filters,
    and reports the levels it gives loggers."""
    main_log, foo_log = tmp_path / "main.log", tmp_path / "foo.log"
    config = {
        "version": 1,
        "formatters": {"f": {"format": "%(name)s %(message)s"}},
        "filters": {"only_a": {"name": "foo.a"}},
        "handlers": {
            "main": {"class": "logging.FileHandler", "filename": str(main_log), "formatter": "f"},
            "foo": {"class": "logging.FileHandler", "filename": str(foo_log), "formatter": "f"},
            # Its target sorts after it: configured first all the same.
            "a_mem": {"class": "logging.handlers.MemoryHandler", "capacity": 10, "target": "main"},
        },
        "loggers": {
            "foo": {"handlers": ["foo"], "propagate": False, "level": "DEBUG"},
            "bar": {"handlers": ["a_mem"], "filters": ["only_a"]},
        },
        "root": {"handlers": ["main"], "level": "INFO"},
    }
    destination = ConfigDestination(config)
    assert destination.levels() == {"": logging.INFO, "foo": logging.DEBUG}
    router = destination.build()
    for name in ("foo", "foo.a", "app", "bar"):
        router.handle(_rec(name, "m"))
    router.close()
    assert foo_log.read_text().splitlines() == ["foo m", "foo.a m"]
    assert main_log.read_text().splitlines() == ["app m"]


def _memory(target: str) -> dict[str, object]:
    return {"class": "logging.handlers.MemoryHandler", "capacity": 10, "target": target}


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        ({"version": 2}, ValueError, "version"),
        ("not a dict", TypeError, "dictConfig"),
        ({"version": 1, "incremental": True}, ValueError, "incremental"),
        ({"version": 1, "root": {"handlers": ["nope"]}}, ValueError, "nope"),
        ({"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}, ValueError, "'h'"),
        ({"version": 1, "formatters": {"f": {"()": "no.such.fn"}}}, ValueError, "'f'"),
        ({"version": 1, "handlers": {"m": _memory("gone")}}, ValueError, "'m' targets 'gone'"),
        ({"version": 1, "handlers": {"a": _memory("b"), "b": _memory("a")}}, ValueError, "a -> b"),
    ],
)
def test_config_destination_errors(config: object, error: type[Exception], match: str) -> None:
    """Invalid dictConfig dicts raise a clear error naming the problem, at creation or build."""
    with pytest.raises(error, match=match):
        ConfigDestination(config).build()  # type: ignore[arg-type]
