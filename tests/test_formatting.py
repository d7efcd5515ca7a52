"""Unit tests of mplog._worker.formatting: worker-side lines identical to logging.Formatter's."""

from __future__ import annotations

import logging
import sys

import pytest

from mplog._worker.formatting import LineFormatter

FORMATS = [
    ("%(asctime)s %(process)d %(processName)s %(name)s %(levelname)s %(message)s", None, "%"),
    ("%(asctime)s|%(message)s", "%Y-%m-%dT%H:%M:%S", "%"),
    ("{asctime} {levelname:>8} {message}", None, "{"),
    ("$asctime $name $message", "%H:%M", "$"),
    ("%(levelname)s:%(name)s:%(message)s", None, "%"),
]


def _record(created: float, msg: object = "value %d", args: object = (7,)) -> logging.LogRecord:
    record = logging.LogRecord("app.db", logging.INFO, __file__, 3, msg, args, None)  # type: ignore[arg-type]
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


@pytest.mark.parametrize(("fmt", "datefmt", "style"), FORMATS)
def test_lines_match_the_stdlib_formatter_across_time(
    fmt: str, datefmt: str | None, style: str
) -> None:
    """For records within one millisecond, across milliseconds and across seconds (the
    cache's boundaries), and back in time, every line equals logging.Formatter's."""
    ours, stdlib = LineFormatter(fmt, datefmt, style), logging.Formatter(fmt, datefmt, style)  # type: ignore[arg-type]
    base = 1_764_115_200.0
    for offset in (0.0, 0.0004, 0.0011, 0.9999, 1.0, 1.0005, 61.25, 0.5, 3600.001, 0.0):
        record = _record(base + offset)
        assert ours.format(record) == stdlib.format(_record(base + offset)), offset


def test_tracebacks_and_stacks_are_appended_like_the_stdlib() -> None:
    """exc_info and stack_info add the same text, on their own lines, as the stdlib."""
    fmt = "%(levelname)s %(message)s"
    ours, stdlib = LineFormatter(fmt, None, "%"), logging.Formatter(fmt)
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    records = []
    for _ in range(2):
        record = _record(5.0)
        record.exc_info = exc_info
        record.stack_info = "Stack (most recent call last):\n  here"
        records.append(record)
    assert ours.format(records[0]) == stdlib.format(records[1])
    assert "ValueError: boom" in ours.format(records[0])


def test_a_message_that_cannot_be_formatted_is_rendered_not_raised() -> None:
    """Wrong arguments for the message give a readable line naming the failure."""
    line = LineFormatter("%(message)s", None, "%").format(_record(1.0, "%d items", ("x",)))
    assert "'%d items'" in line and "'x'" in line and "TypeError" in line


def test_a_missing_field_raises_for_the_caller_to_handle() -> None:
    """A format naming a field the record lacks raises (the shipping handler then sends
    the record itself, for the listener to report)."""
    with pytest.raises((KeyError, ValueError)):
        LineFormatter("%(missing)s %(message)s", None, "%").format(_record(1.0))
