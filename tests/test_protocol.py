"""Unit tests of mplog._protocol: framing, plain-data conversion, record encoding."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import pytest

from mplog import _protocol
from mplog._lineplan import MORE
from tests._workers import BadBoth, BadStr


def _record(msg: object, args: object = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]
    record.__dict__.update(extra)
    return record


def test_frame_header_carries_length_and_kind() -> None:
    """frame() writes a 5-byte header (big-endian length, kind) followed by the body."""
    data = _protocol.frame(_protocol.KIND_RECORD, b"abc")
    assert data == b"\x00\x00\x00\x03\x02abc"


def test_decode_rejects_non_dict() -> None:
    """decode() refuses a body that is not an encoded dict with a clear error."""
    with pytest.raises(ValueError, match="expected a dict"):
        _protocol.decode(_protocol.marshal.dumps([1, 2]))


def test_plain_keeps_plain_values_and_renders_others() -> None:
    """plain() keeps str/int/float/bool/None/bytes and containers of them, renders any
    other object (and non-plain dict keys) with repr, and bounds nesting depth."""
    value = {"a": [1, 2.5, (True, None, b"x")], 3: "s"}
    assert _protocol.plain(value) == value
    lock = threading.Lock()
    assert _protocol.plain([lock]) == [repr(lock)]
    assert _protocol.plain({(1, 2): 1}) == {"(1, 2)": 1}
    assert _protocol.plain(BadBoth()).startswith("<unrepresentable BadBoth object")
    deep: list[object] = []
    cur = deep
    for _ in range(100):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    _protocol.encode({"deep": _protocol.plain(deep)})  # marshal accepts the bounded result


def test_plain_subclasses_of_plain_types_are_rendered() -> None:
    """Subclasses of plain types (an IntEnum, a str subclass) become plain values marshal
    can encode, not objects the listener would need to import."""
    import enum

    class Color(enum.IntEnum):
        RED = 1

    out = _protocol.plain(Color.RED)
    _protocol.encode({"x": out})
    assert type(out) in (int, str)


_BAD_BOTH = "<unrepresentable BadBoth object: RuntimeError>"


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("REC|%s|%d|bad=%s|END", ("w0", 0, BadBoth()), f"REC|w0|0|bad={_BAD_BOTH}|END"),
        ("x %s y", (BadStr(),), "x <BadStr repr> y"),
        ("x %r y %s", (BadBoth(), BadStr()), f"x {_BAD_BOTH} y <BadStr repr>"),
        ("%(a)s-%(b)d", ({"a": BadBoth(), "b": 7},), f"{_BAD_BOTH}-7"),
    ],
)
def test_a_failing_argument_keeps_the_message_shape(
    msg: str, args: tuple[Any, ...], expected: str
) -> None:
    """An argument whose str() or repr() raises is shown by a placeholder (its repr when only
    str() raises) in the user's format, so the line still starts and reads as it should."""
    assert _protocol.render_message(_record(msg, args)) == expected


def test_render_message_fallbacks() -> None:
    """When the format itself fails (or msg cannot be shown), render_message() gives a
    readable rendering of msg and args naming the failure, even when __repr__ raises."""
    assert _protocol.render_message(_record("a %s", ("b",))) == "a b"
    text = _protocol.render_message(_record(BadBoth()))
    assert "unrepresentable BadBoth" in text
    text = _protocol.render_message(_record("%d", ("nan",)))
    assert "'%d'" in text and "'nan'" in text and "TypeError" in text


def test_record_body_round_trip_and_caller_record_untouched() -> None:
    """record_body() renders args, exc_info and odd extras to text; make_record() rebuilds
    a record with the same fields; the caller's record is not modified."""
    try:
        raise KeyError("boom")
    except KeyError:
        exc_info = sys.exc_info()
    lock = threading.Lock()
    record = logging.LogRecord("n.m", logging.ERROR, "f.py", 42, "v=%s", (lock,), exc_info)
    record.custom = lock
    before = dict(record.__dict__)
    rebuilt = _protocol.make_record(_protocol.decode(_protocol.record_body(record)))
    assert record.__dict__ == before
    assert rebuilt.getMessage() == f"v={lock!r}"
    assert rebuilt.args is None
    assert rebuilt.exc_info is None
    assert "Traceback" in rebuilt.exc_text and "KeyError: 'boom'" in rebuilt.exc_text
    assert rebuilt.custom == repr(lock)
    for attr in ("name", "levelno", "levelname", "lineno", "funcName", "process", "thread"):
        assert getattr(rebuilt, attr) == getattr(record, attr)


def test_record_body_keeps_text_exactly() -> None:
    """Newlines, non-ASCII, lone surrogates and NUL bytes survive encoding unchanged."""
    for text in ("a\nb\r\nc", "h\u00e9 \U0001f600", "x\udcffy", "n\x00l"):
        rebuilt = _protocol.make_record(_protocol.decode(_protocol.record_body(_record(text))))
        assert rebuilt.getMessage() == text


def test_plain_renders_attributes_as_str_and_contents_as_repr() -> None:
    """A record attribute becomes the text ``%(name)s`` shows (str); inside a container,
    repr, as str() of the container shows it; a broken __str__ falls back to repr."""
    import datetime

    class NoStr:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            return "<NoStr>"

    day = datetime.date(2024, 1, 2)
    assert _protocol.plain(day) == "2024-01-02"
    assert _protocol.plain([day]) == ["datetime.date(2024, 1, 2)"]
    assert _protocol.plain(NoStr()) == "<NoStr>"


def test_count_frames() -> None:
    line = _protocol.line_frame(20, "x")
    tagged = _protocol.dest_line_frame(20, MORE | 1, b"y\n")
    record = _protocol.frame(_protocol.KIND_RECORD, b"z" * 300)
    assert _protocol.count_frames(line) == 1
    assert _protocol.count_frames(line + tagged + record) == 3
    assert _protocol.count_frames(_protocol.frame(_protocol.KIND_BYE, b"")) == 1
