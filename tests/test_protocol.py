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


def test_frame_reader_splits_at_every_byte_boundary() -> None:
    """Frames fed in two pieces cut at any byte come out whole, once, in order."""
    frames = [
        (_protocol.KIND_HELLO, _protocol.encode({"pid": 1})),
        (_protocol.KIND_RECORD, b""),
        (_protocol.KIND_RECORD, _protocol.encode({"msg": "x" * 300})),
        (_protocol.KIND_BYE, b""),
    ]
    stream = b"".join(_protocol.frame(kind, body) for kind, body in frames)
    for cut in range(len(stream) + 1):
        reader = _protocol.FrameReader()
        got = list(reader.feed(stream[:cut])) + list(reader.feed(stream[cut:]))
        assert got == frames, f"cut at {cut}"
        assert reader.pending == 0


def test_frame_reader_byte_by_byte_and_pending() -> None:
    """Feeding one byte at a time yields each frame when its last byte arrives; an
    incomplete frame is reported as pending bytes."""
    body = _protocol.encode({"k": "v"})
    stream = _protocol.frame(_protocol.KIND_RECORD, body) * 3
    reader = _protocol.FrameReader()
    got = []
    for i in range(len(stream)):
        got.extend(reader.feed(stream[i : i + 1]))
    assert got == [(_protocol.KIND_RECORD, body)] * 3
    list(reader.feed(stream[:7]))
    assert reader.pending == 7


def test_frame_reader_never_hands_out_a_frame_twice() -> None:
    """feed() returns every complete frame once and keeps only the incomplete tail, even
    when the caller stops using the frames after the first one (as the listener does when
    it cuts a peer off)."""
    stream = _protocol.frame(2, b"a") + _protocol.frame(2, b"b") + _protocol.frame(2, b"cc")[:4]
    reader = _protocol.FrameReader()
    frames = reader.feed(stream)
    assert frames[0] == (2, b"a")
    assert frames == [(2, b"a"), (2, b"b")]
    assert reader.pending == 4
    assert reader.feed(b"") == []
    assert reader.feed(_protocol.frame(2, b"cc")[4:]) == [(2, b"cc")]


def _mixed_stream() -> tuple[bytes, list[object]]:
    """A stream of lines and other frames, and what feed_runs() must make of it."""
    lines = [(20, "one"), (40, "two\nstill two"), (70000, "custom level")]
    body = _protocol.encode({"msg": "record"})
    stream = (
        b"".join(_protocol.line_frame(level, text) for level, text in lines[:2])
        + _protocol.frame(_protocol.KIND_RECORD, body)
        + _protocol.line_frame(*lines[2])
        + _protocol.frame(_protocol.KIND_BYE, b"")
    )
    expected = [
        ([20, 40], [b"one\n", b"two\nstill two\n"]),
        (_protocol.KIND_RECORD, body),
        ([0xFFFF], [b"custom level\n"]),
        (_protocol.KIND_BYE, b""),
    ]
    return stream, expected


def _as_data(items: list[_protocol.Frame | _protocol.LineRun]) -> list[object]:
    return [
        (item.levels, [bytes(line) for line in item.lines])
        if isinstance(item, _protocol.LineRun)
        else item
        for item in items
    ]


def _one_per_line(items: list[_protocol.Frame | _protocol.LineRun]) -> list[object]:
    flat: list[object] = []
    for item in items:
        if isinstance(item, _protocol.LineRun):
            flat += [
                (level, bytes(line)) for level, line in zip(item.levels, item.lines, strict=True)
            ]
        else:
            flat.append(item)
    return flat


def test_feed_runs_groups_consecutive_lines_between_other_frames() -> None:
    """feed_runs() hands consecutive lines over as one run (levels and bytes, newlines
    kept), other frames as (kind, body), all in stream order; a custom level beyond the
    header's range is clamped, not fatal."""
    stream, expected = _mixed_stream()
    assert _as_data(_protocol.FrameReader().feed_runs(stream)) == expected


def test_feed_runs_at_every_byte_boundary() -> None:
    """Cut anywhere, the stream still yields every line and frame exactly once, in order;
    runs from an earlier feed stay intact after later feeds."""
    stream, _ = _mixed_stream()
    whole = _one_per_line(_protocol.FrameReader().feed_runs(stream))
    for cut in range(len(stream) + 1):
        reader = _protocol.FrameReader()
        first = reader.feed_runs(stream[:cut])
        second = reader.feed_runs(stream[cut:])
        assert _one_per_line(first + second) == whole, f"cut at {cut}"
        assert reader.pending == 0


def _record_runs_stream() -> tuple[bytes, list[object]]:
    """Records around lines and other frames, and what feed_runs(records=True) makes of it."""
    bodies = [_protocol.encode({"msg": f"record {i}"}) for i in range(5)]
    records = [_protocol.frame(_protocol.KIND_RECORD, body) for body in bodies]
    bye = _protocol.frame(_protocol.KIND_BYE, b"")
    line = _protocol.line_frame(20, "line")
    stream = records[0] + records[1] + line + records[2] + bye + records[3] + records[4]
    expected = [
        ("records", bodies[:2]),
        ([20], [b"line\n"]),
        ("records", bodies[2:3]),
        (_protocol.KIND_BYE, b""),
        ("records", bodies[3:]),
    ]
    return stream, expected


def _with_records(items: list[_protocol.Item]) -> list[object]:
    return [
        ("records", [bytes(body) for body in item]) if isinstance(item, list) else item
        for item in _as_data(items)  # type: ignore[arg-type]
    ]


def test_feed_runs_groups_consecutive_record_frames() -> None:
    """With ``records``, consecutive record frames come as one run of their bodies (views of
    the data read), in stream order with the lines and frames around them; without, each is
    a ``(kind, body)`` frame."""
    stream, expected = _record_runs_stream()
    items = _protocol.FrameReader().feed_runs(stream, records=True)
    assert _with_records(items) == expected
    assert all(
        type(body) is memoryview for item in items if isinstance(item, list) for body in item
    )
    plain = _protocol.FrameReader().feed_runs(stream)
    kinds = [item[0] for item in plain if isinstance(item, tuple)]
    assert kinds == [_protocol.KIND_RECORD] * 3 + [_protocol.KIND_BYE] + [_protocol.KIND_RECORD] * 2


def test_record_runs_at_every_byte_boundary() -> None:
    """Cut anywhere, every record body comes out exactly once, in order, with the lines and
    frames around it in their place."""
    stream, _ = _record_runs_stream()

    def flat(items: list[_protocol.Item]) -> list[object]:
        out: list[object] = []
        for item in _with_records(items):
            if isinstance(item, tuple) and item[0] == "records":
                out += [("record", body) for body in item[1]]
            else:
                out.append(item)
        return out

    whole = flat(_protocol.FrameReader().feed_runs(stream, records=True))
    assert len([x for x in whole if isinstance(x, tuple) and x[0] == "record"]) == 5
    for cut in range(len(stream) + 1):
        reader = _protocol.FrameReader()
        first = reader.feed_runs(stream[:cut], records=True)
        second = reader.feed_runs(stream[cut:], records=True)
        assert flat(first + second) == whole, f"cut at {cut}"
        assert reader.pending == 0


def test_feed_runs_passes_a_short_line_frame_on_as_a_frame() -> None:
    """A line frame too short to hold its level is not a line: it comes out as a plain
    frame, for the listener to reject."""
    bad = _protocol.frame(_protocol.KIND_LINE, b"x")
    assert _protocol.FrameReader().feed_runs(bad) == [(_protocol.KIND_LINE, b"x")]


def test_a_large_frame_in_small_pieces_is_held_until_complete() -> None:
    """A frame much larger than each read comes out once, whole, when its last byte
    arrives; until then it is only pending."""
    body = bytes(range(256)) * 4096
    stream = _protocol.frame(_protocol.KIND_RECORD, body) + _protocol.line_frame(20, "after")
    reader = _protocol.FrameReader()
    got: list[_protocol.Frame | _protocol.LineRun] = []
    for start in range(0, len(stream), 4096):
        got += reader.feed_runs(stream[start : start + 4096])
        if start + 4096 < len(stream) - 20:
            assert got == [] and reader.pending == min(start + 4096, len(stream))
    assert _as_data(got) == [(_protocol.KIND_RECORD, body), ([20], [b"after\n"])]


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


def test_tagged_lines_come_as_runs_of_their_own() -> None:
    """``KIND_DEST_LINE`` frames group into a run carrying each line's handler tag, apart
    from untagged lines and records; a split frame waits for its rest; a level beyond the
    field is clamped."""
    tagged = [
        _protocol.dest_line_frame(20, 0, b"a\n"),
        _protocol.dest_line_frame(30, 1 | MORE, b"b\n"),
        _protocol.dest_line_frame(70_000, 2, b"c\n"),
    ]
    data = b"".join(
        [
            _protocol.line_frame(20, "plain"),
            *tagged,
            _protocol.frame(_protocol.KIND_RECORD, _protocol.encode({"x": 1})),
            tagged[0],
        ]
    )
    reader = _protocol.FrameReader()
    items = reader.feed_runs(data[:-3]) + reader.feed_runs(data[-3:])
    plain, run, record, last = items
    assert isinstance(plain, _protocol.LineRun) and plain.dests is None
    assert isinstance(run, _protocol.LineRun)
    assert run.dests == [0, 1 | MORE, 2]
    assert run.levels == [20, 30, 0xFFFF]
    assert [bytes(line) for line in run.lines] == [b"a\n", b"b\n", b"c\n"]
    assert record[0] == _protocol.KIND_RECORD
    assert isinstance(last, _protocol.LineRun) and last.dests == [0]


def test_count_frames() -> None:
    line = _protocol.line_frame(20, "x")
    tagged = _protocol.dest_line_frame(20, MORE | 1, b"y\n")
    record = _protocol.frame(_protocol.KIND_RECORD, b"z" * 300)
    assert _protocol.count_frames(line) == 1
    assert _protocol.count_frames(line + tagged + record) == 3
    assert _protocol.count_frames(_protocol.frame(_protocol.KIND_BYE, b"")) == 1
