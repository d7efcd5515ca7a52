"""Which of the listener's handlers the processes can write lines for
(``mplog._outputs.plan``), and with which format, level, terminator and encoding."""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path

import pytest

import mplog
from mplog._lineplan import RECORD, JsonFormat, TextFormat
from mplog._outputs.destinations import FileDestination
from mplog._outputs.plan import RECORD_PATH_ENV, build_plan
from mplog._outputs.router import Route


class OwnFileHandler(logging.FileHandler):
    """A subclass: it may override anything, so it keeps the record path."""


class OwnFormatter(logging.Formatter):
    """A formatter subclass: the same."""


def _plan(handlers: list[logging.Handler]):  # type: ignore[no-untyped-def]
    return build_plan(handlers, Route(tuple(handlers)), {})


def _file(tmp_path: Path, name: str = "a.log", **kwargs: object) -> logging.FileHandler:
    return logging.FileHandler(tmp_path / name, **kwargs)  # type: ignore[arg-type]


def test_known_handlers_and_formatters_get_lines(tmp_path: Path) -> None:
    text = _file(tmp_path, encoding="latin-1", errors="replace")
    text.setFormatter(logging.Formatter("{asctime} {message} {x}", "%H", "{", defaults={"x": 1}))
    text.setLevel(logging.INFO)
    json = _file(tmp_path, "b.log", encoding="utf-8", delay=True)
    json.setFormatter(mplog.JsonFormatter(utc=True, static={"svc": "s"}))
    console = logging.StreamHandler(sys.__stderr__)
    console.terminator = "\r\n"
    plan = _plan([text, json, console])
    assert plan is not None
    formats = plan.formats
    first, second, third = plan.outputs
    assert formats[first.format] == TextFormat(
        "{asctime} {message} {x}", "%H", "{", (("x", 1),), "localtime"
    )
    assert (first.level, first.encoding, first.errors) == (logging.INFO, "latin-1", "replace")
    assert formats[second.format] == JsonFormat(True, "milliseconds", "auto", (("svc", "s"),))
    assert formats[third.format] == TextFormat("%(message)s")  # no formatter: logging's default
    assert third.terminator == "\r\n"


def test_equal_formatters_share_one_format(tmp_path: Path) -> None:
    """A process formats a record once per distinct formatter, not per handler."""
    handlers = [_file(tmp_path, f"{n}.log") for n in range(3)]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    gmt = logging.Formatter("%(levelname)s %(message)s")
    gmt.converter = time.gmtime
    handlers[2].setFormatter(gmt)
    plan = _plan(handlers)
    assert plan is not None
    assert [o.format for o in plan.outputs] == [0, 0, 1]
    assert [f.converter for f in plan.formats] == ["localtime", "gmtime"]  # type: ignore[union-attr]


def _own_clock(seconds: float | None) -> time.struct_time:
    return time.localtime(seconds)


def _unknown(tmp_path: Path) -> list[logging.Handler]:
    subclass = OwnFileHandler(tmp_path / "s.log")
    filtered = _file(tmp_path, "f.log")
    filtered.addFilter(lambda record: True)
    own_formatter = _file(tmp_path, "o.log")
    own_formatter.setFormatter(OwnFormatter())
    converter = _file(tmp_path, "c.log")
    odd = logging.Formatter()
    odd.converter = _own_clock  # type: ignore[assignment]
    converter.setFormatter(odd)
    text_stream = logging.StreamHandler(io.StringIO())  # no byte buffer to append to
    binary = _file(tmp_path, "b.log", mode="ab", delay=True)
    not_plain = _file(tmp_path, "n.log")
    not_plain.setFormatter(mplog.JsonFormatter(static={"when": object()}))
    return [subclass, filtered, own_formatter, converter, text_stream, binary, not_plain]


def test_what_cannot_be_reproduced_keeps_the_record_path(tmp_path: Path) -> None:
    handlers = _unknown(tmp_path)
    plan = _plan([*handlers, _file(tmp_path, "good.log")])
    assert plan is not None
    assert [o.format for o in plan.outputs] == [RECORD] * len(handlers) + [0]
    assert _plan(handlers) is None  # nothing a process can write: no plan at all


def test_the_record_path_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RECORD_PATH_ENV, "1")
    assert _plan([_file(tmp_path)]) is None
    monkeypatch.setenv(RECORD_PATH_ENV, "0")
    assert _plan([_file(tmp_path)]) is not None


def test_a_text_file_keeps_its_single_format_path(tmp_path: Path) -> None:
    """``setup_listener(filename)`` ships one line per record as before; ``json=True`` gets a
    plan with the JSON file (and the console in its text format)."""
    text = FileDestination(str(tmp_path / "t.log")).build()
    assert text.plan is None
    json = FileDestination(str(tmp_path / "j.log"), console=logging.WARNING, json=True).build()
    assert json.plan is not None
    assert [type(f) for f in json.plan.formats] == [JsonFormat, TextFormat]
    assert [o.level for o in json.plan.outputs] == [0, logging.WARNING]
    text.close()
    json.close()
