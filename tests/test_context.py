"""mplog._worker.context: worker index, task and user fields on every shipped record."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

import pytest

import mplog
from mplog._worker import context as _context
from tests import _workers
from tests._helpers import TIMEOUT

CTX_FMT = "%(process)d|%(worker_index)s|%(task_id)s|%(task_name)s|%(request_id)s|%(message)s"


def _lines(path: Path) -> list[list[str]]:
    return [line.split("|") for line in path.read_text("utf-8").splitlines()]


def test_context_fields_nest_and_reset() -> None:
    """Nested blocks add fields; leaving a block restores the outer fields."""
    record = logging.makeLogRecord({"msg": "x"})
    with mplog.context(a=1), mplog.context(b=2):
        _context.stamp(record)
    assert (record.a, record.b) == (1, 2)
    after = logging.makeLogRecord({"msg": "y"})
    _context.stamp(after)
    assert not hasattr(after, "a")
    assert (after.worker_index, after.task_id, after.task_name) == (None, None, None)


def test_extra_wins_over_context() -> None:
    """A field given with extra= is not overwritten by the context of the same name."""
    record = logging.makeLogRecord({"msg": "x", "request_id": "from-extra"})
    with mplog.context(request_id="from-context"):
        _context.stamp(record)
    assert record.request_id == "from-extra"


def test_reserved_names_are_refused() -> None:
    """Context fields that would overwrite LogRecord attributes give a clear error."""
    with pytest.raises(ValueError, match="levelname"), mplog.context(levelname="x"):
        pass
    with pytest.raises(ValueError, match="task_id"), mplog.context(task_id=3):
        pass


@pytest.mark.parametrize("target", ["threads_with_context", "asyncio_with_context"])
def test_threads_and_asyncio_keep_their_own_context(
    tmp_path: Path, start_method: str, target: str
) -> None:
    """Threads and asyncio tasks in a worker each log with their own context fields."""
    path = tmp_path / "ctx.log"
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT):
        process = mplog.Process(
            target=getattr(_workers, target),
            args=(4,),
            context=__import__("multiprocessing").get_context(start_method),
        )
        process.start()
        process.join(60)
        assert process.exitcode == 0
    lines = _lines(path)
    assert lines, "no records arrived"
    for fields in lines:
        number = fields[5].split()[-1]
        assert fields[4].endswith(number), f"record carries another context: {fields}"


def test_main_records_have_empty_task_fields(tmp_path: Path) -> None:
    """Records from main carry the task fields as None, so %(task_id)s formats never fail."""
    path = tmp_path / "main.log"
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT), mplog.context(request_id="m"):
        logging.getLogger("main").info("hello")
    assert _lines(path) == [[_lines(path)[0][0], "None", "None", "None", "m", "hello"]]


def test_stamp_needed_follows_the_format_and_open_context_blocks() -> None:
    """A line format naming a pool field needs stamping; one that names none needs it only
    while a context() block is open."""
    assert _context.names_pool_fields("%(asctime)s %(task_id)s %(message)s")
    assert _context.names_pool_fields("{worker_index} {message}")
    assert not _context.names_pool_fields("%(asctime)s %(name)s %(message)s")
    assert _context.stamp_needed(True)
    assert not _context.stamp_needed(False)
    with mplog.context(request_id="r"):
        assert _context.stamp_needed(False)
    assert not _context.stamp_needed(False)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("%(request_id)s|%(message)s", ["r0|item 0 0", "r1|item 1 0"]),
        ("%(task_id)s|%(task_name)s|%(message)s", ["0|log_item|item 0 0", "1|log_item|item 1 0"]),
    ],
)
def test_worker_lines_carry_context_fields_the_format_names(
    tmp_path: Path, fmt: str, expected: list[str]
) -> None:
    """Workers that format their own lines fill in a context() field or a pool field that
    the format names (they stamp records only when a format or a block needs it)."""
    path = tmp_path / "ctx.log"
    ctx = multiprocessing.get_context("fork")
    with (
        mplog.setup_listener(path, level="INFO", fmt=fmt),
        mplog.ProcessPoolExecutor(1, mp_context=ctx) as executor,
    ):
        list(executor.map(_workers.log_item, range(2), timeout=TIMEOUT))
    assert sorted(path.read_text().splitlines()) == expected


def test_providers_stamp_their_fields_until_removed() -> None:
    """An engine's provider adds its fields to every record (extra= wins), and makes a
    record need stamping even when no context block is open; removing it stops both."""

    def provider() -> dict[str, str]:
        return {"engine_field": "from-provider", "shared": "from-provider"}

    assert not _context.stamp_needed(False)
    _context.add_provider(provider)
    _context.add_provider(provider)  # once only
    try:
        assert _context.stamp_needed(False)
        record = logging.makeLogRecord({"msg": "x", "shared": "from-extra"})
        _context.stamp(record)
        assert (record.engine_field, record.shared) == ("from-provider", "from-extra")
        assert _context._providers.count(provider) == 1
    finally:
        _context.remove_provider(provider)
    after = logging.makeLogRecord({"msg": "y"})
    _context.stamp(after)
    assert not hasattr(after, "engine_field")
    assert not _context.stamp_needed(False)
