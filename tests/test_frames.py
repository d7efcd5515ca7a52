"""Unit tests of mplog._frames: splitting a stream into frames, runs of lines and, on a pipe,
runs of plain lines."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from mplog import _frames, _protocol
from mplog._lineplan import MORE
from mplog._worker.connection import Stream


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
        reader = _frames.FrameReader()
        got = list(reader.feed(stream[:cut])) + list(reader.feed(stream[cut:]))
        assert got == frames, f"cut at {cut}"
        assert reader.pending == 0


def test_frame_reader_byte_by_byte_and_pending() -> None:
    """Feeding one byte at a time yields each frame when its last byte arrives; an
    incomplete frame is reported as pending bytes."""
    body = _protocol.encode({"k": "v"})
    stream = _protocol.frame(_protocol.KIND_RECORD, body) * 3
    reader = _frames.FrameReader()
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
    reader = _frames.FrameReader()
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


def _as_data(items: list[_frames.Item]) -> list[object]:
    return [
        (item.levels, [bytes(line) for line in item.lines])
        if isinstance(item, _frames.LineRun)
        else item
        for item in items
    ]


def _one_per_line(items: list[_frames.Item]) -> list[object]:
    flat: list[object] = []
    for item in items:
        if isinstance(item, _frames.LineRun):
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
    assert _as_data(_frames.FrameReader().feed_runs(stream)) == expected


def test_feed_runs_at_every_byte_boundary() -> None:
    """Cut anywhere, the stream still yields every line and frame exactly once, in order;
    runs from an earlier feed stay intact after later feeds."""
    stream, _ = _mixed_stream()
    whole = _one_per_line(_frames.FrameReader().feed_runs(stream))
    for cut in range(len(stream) + 1):
        reader = _frames.FrameReader()
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


def _with_records(items: list[_frames.Item]) -> list[object]:
    return [
        ("records", [bytes(body) for body in item]) if isinstance(item, list) else item
        for item in _as_data(items)
    ]


def test_feed_runs_groups_consecutive_record_frames() -> None:
    """With ``records``, consecutive record frames come as one run of their bodies (views of
    the data read), in stream order with the lines and frames around them; without, each is
    a ``(kind, body)`` frame."""
    stream, expected = _record_runs_stream()
    items = _frames.FrameReader().feed_runs(stream, records=True)
    assert _with_records(items) == expected
    assert all(
        type(body) is memoryview for item in items if isinstance(item, list) for body in item
    )
    plain = _frames.FrameReader().feed_runs(stream)
    kinds = [item[0] for item in plain if isinstance(item, tuple)]
    assert kinds == [_protocol.KIND_RECORD] * 3 + [_protocol.KIND_BYE] + [_protocol.KIND_RECORD] * 2


def test_record_runs_at_every_byte_boundary() -> None:
    """Cut anywhere, every record body comes out exactly once, in order, with the lines and
    frames around it in their place."""
    stream, _ = _record_runs_stream()

    def flat(items: list[_frames.Item]) -> list[object]:
        out: list[object] = []
        for item in _with_records(items):
            if isinstance(item, tuple) and item[0] == "records":
                out += [("record", body) for body in item[1]]
            else:
                out.append(item)
        return out

    whole = flat(_frames.FrameReader().feed_runs(stream, records=True))
    assert len([x for x in whole if isinstance(x, tuple) and x[0] == "record"]) == 5
    for cut in range(len(stream) + 1):
        reader = _frames.FrameReader()
        first = reader.feed_runs(stream[:cut], records=True)
        second = reader.feed_runs(stream[cut:], records=True)
        assert flat(first + second) == whole, f"cut at {cut}"
        assert reader.pending == 0


def test_feed_runs_passes_a_short_line_frame_on_as_a_frame() -> None:
    """A line frame too short to hold its level is not a line: it comes out as a plain
    frame, for the listener to reject."""
    bad = _protocol.frame(_protocol.KIND_LINE, b"x")
    assert _frames.FrameReader().feed_runs(bad) == [(_protocol.KIND_LINE, b"x")]


def test_a_large_frame_in_small_pieces_is_held_until_complete() -> None:
    """A frame much larger than each read comes out once, whole, when its last byte
    arrives; until then it is only pending."""
    body = bytes(range(256)) * 4096
    stream = _protocol.frame(_protocol.KIND_RECORD, body) + _protocol.line_frame(20, "after")
    reader = _frames.FrameReader()
    got: list[_frames.Item] = []
    for start in range(0, len(stream), 4096):
        got += reader.feed_runs(stream[start : start + 4096])
        if start + 4096 < len(stream) - 20:
            assert got == [] and reader.pending == min(start + 4096, len(stream))
    assert _as_data(got) == [(_protocol.KIND_RECORD, body), ([20], [b"after\n"])]


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
    reader = _frames.FrameReader()
    items = reader.feed_runs(data[:-3]) + reader.feed_runs(data[-3:])
    plain, run, record, last = items
    assert isinstance(plain, _frames.LineRun) and plain.dests is None
    assert isinstance(run, _frames.LineRun)
    assert run.dests == [0, 1 | MORE, 2]
    assert run.levels == [20, 30, 0xFFFF]
    assert [bytes(line) for line in run.lines] == [b"a\n", b"b\n", b"c\n"]
    assert record[0] == _protocol.KIND_RECORD
    assert isinstance(last, _frames.LineRun) and last.dests == [0]


def _pipe_bytes(write: Callable[[Stream], None]) -> bytes:
    """What a process's ``Stream`` writes into its pipe while ``write(stream)`` runs."""
    reader, writer = os.pipe()
    stream = Stream(None, writer, 5.0)  # type: ignore[arg-type]  # no socket: pipe only
    try:
        write(stream)
        os.close(writer)
        data = b""
        while chunk := os.read(reader, 1 << 16):
            data += chunk
        return data
    finally:
        os.close(reader)


def _plain_reader() -> _frames.FrameReader:
    reader = _frames.FrameReader()
    reader.plain = True
    return reader


def _pipe_items(items: list[_frames.Item]) -> list[object]:
    """Each item as data: a plain run as ("plain", level, count, bytes), else as it is."""
    out: list[object] = []
    for item in items:
        if isinstance(item, _frames.LineRun) and item.plain:
            out.append(("plain", item.levels[0], item.count(), bytes(item.lines[0])))
        elif isinstance(item, _frames.LineRun):
            out.append(("lines", item.levels, [bytes(line) for line in item.lines]))
        else:
            out.append(item)
    return out


def _write_mixed(stream: Stream) -> None:
    stream.send_line(20, "one")
    stream.send_line(20, "two é \udcff")  # a lone surrogate: backslashreplace, as in frames
    stream.send_line(40, "three")
    stream.send_line(40, "multi\nline")  # a newline: in a frame
    stream.send_line(40, "four")
    stream.send(_protocol.frame(_protocol.KIND_RECORD, b"\0\n" * 40))  # NULs, newlines inside
    stream.send_line(40, "has a \0 NUL")  # a NUL: in a frame
    stream.send_line(10, "five")  # DEBUG is 10, a newline byte in the level frame
    stream.send(_protocol.frame(_protocol.KIND_BYE, b""))


MIXED = [
    ("plain", 20, 2, b"one\ntwo \xc3\xa9 \\udcff\n"),
    ("plain", 40, 1, b"three\n"),
    ("lines", [40], [b"multi\nline\n"]),
    ("plain", 40, 1, b"four\n"),
    (_protocol.KIND_RECORD, b"\0\n" * 40),
    ("lines", [40], [b"has a \0 NUL\n"]),
    ("plain", 10, 1, b"five\n"),
    (_protocol.KIND_BYE, b""),
]


def test_a_pipe_carries_plain_lines_with_their_levels_and_frames_after_a_nul() -> None:
    """What a process writes into its pipe reads back as runs of plain lines (one view, one
    level, counted), lines holding a newline or a NUL in frames, and every other frame; the
    level frame is written only when the level changes."""
    data = _pipe_bytes(_write_mixed)
    assert data.count(_protocol.level_frame(40)) == 1
    assert _pipe_items(_plain_reader().feed_runs(data)) == MIXED


def test_a_pipe_cut_at_every_byte_boundary_reads_the_same() -> None:
    """Wherever a read ends, every line and frame comes out once, whole, in order."""
    data = _pipe_bytes(_write_mixed)

    def flat(items: list[_frames.Item]) -> list[object]:
        out: list[object] = []
        for item in _pipe_items(items):
            if isinstance(item, tuple) and item[0] == "plain":
                out += [("plain", item[1], line) for line in item[3].splitlines(keepends=True)]
            else:
                out.append(item)
        return out

    whole = flat(_plain_reader().feed_runs(data))
    for cut in range(len(data) + 1):
        reader = _plain_reader()
        got = reader.feed_runs(data[:cut]) + reader.feed_runs(data[cut:])
        assert flat(got) == whole, f"cut at {cut}"
        assert reader.pending == 0


@pytest.mark.parametrize(
    "data",
    [
        b"no level yet\n",
        _protocol.nul_framed(_protocol.level_frame(20)) + b"cut by a frame" + b"\0",
        _protocol.nul_framed(_protocol.level_frame(20))
        + b"ok\nthen cut"
        + _protocol.nul_framed(_protocol.frame(_protocol.KIND_BYE, b"")),
    ],
)
def test_bytes_that_break_the_pipe_rules_are_a_broken_frame(data: bytes) -> None:
    """Lines before any level, or a line a frame cuts: the reader hands out a
    ``KIND_BROKEN`` frame (which the listener refuses, closing the stream)."""
    items = _plain_reader().feed_runs(data)
    assert items[-1] == (_frames.KIND_BROKEN, b"")


def test_a_long_plain_line_is_held_until_its_newline() -> None:
    """A plain line far longer than a read waits, whole, for its newline."""
    level = _protocol.nul_framed(_protocol.level_frame(20))
    line = b"x" * (1 << 20)
    reader = _plain_reader()
    got = reader.feed_runs(level)
    for start in range(0, len(line), 1 << 16):
        got += reader.feed_runs(line[start : start + (1 << 16)])
    assert got == [] and reader.pending == len(line)
    assert _pipe_items(reader.feed_runs(b"\n")) == [("plain", 20, 1, line + b"\n")]


def test_a_frame_over_16_mib_on_a_pipe() -> None:
    """A frame whose size's first byte is not zero still reads as a frame on a pipe: the
    NUL before it says so."""
    body = b"y" * (1 << 24)
    data = _protocol.nul_framed(_protocol.frame(_protocol.KIND_RECORD, body))
    data += _protocol.nul_framed(_protocol.level_frame(30)) + b"after\n"
    assert _pipe_items(_plain_reader().feed_runs(data)) == [
        (_protocol.KIND_RECORD, body),
        ("plain", 30, 1, b"after\n"),
    ]


def test_a_refused_line_sends_its_level_again() -> None:
    """A line refused for want of room (``wait=False``) took its level frame with it: the
    next line carries the level again."""
    reader, writer = os.pipe()
    stream = Stream(None, writer, 5.0)  # type: ignore[arg-type]  # no socket: pipe only
    os.set_blocking(writer, False)
    os.set_blocking(reader, False)
    try:
        assert stream.send_line(30, "first", wait=False)
        while stream.send_line(40, "x" * 1000, wait=False):
            pass  # until the pipe is full and one is refused
        with pytest.raises(BlockingIOError):  # drain it all
            while os.read(reader, 1 << 20):
                pass
        assert stream.send_line(40, "again", wait=False)
        assert os.read(reader, 1 << 20) == (
            _protocol.nul_framed(_protocol.level_frame(40)) + b"again\n"
        )
    finally:
        os.close(writer)
        os.close(reader)


def test_nul_framed_puts_a_nul_before_every_frame() -> None:
    frames = [
        _protocol.dest_line_frame(20, 0, b"a\n"),
        _protocol.frame(_protocol.KIND_RECORD, b"z" * 300),
        _protocol.frame(_protocol.KIND_BYE, b""),
    ]
    assert _protocol.nul_framed(frames[0]) == b"\0" + frames[0]
    assert _protocol.nul_framed(b"".join(frames)) == b"".join(b"\0" + f for f in frames)


RECORD = _protocol.frame(_protocol.KIND_RECORD, b"\0\n" * 3)


def _write_dests(stream: Stream) -> None:
    """A line plan's records through a real ``Stream``: output and level switches, records
    with more than one line (framed whole), first lines that must be framed, single-format
    lines between them."""
    stream.send_shipment((20, 0, b"a1\n", b""))
    stream.send_shipment((20, 0, b"a2\n", b""))
    stream.send_shipment((20, 1, b"b1\r\n", b""))  # another output: a KIND_DEST frame
    stream.send_shipment((30, 1, b"b2\n", _protocol.dest_line_frame(30, 2 | MORE, b"c2\n")))
    stream.send_shipment((30, 1, b"b3\n", b""))  # another level: a KIND_DEST frame
    stream.send_shipment((30, 1, b"b3b\n", b""))  # two plain lines among tagged frames
    stream.send_shipment((30, 1, b"two\nlines\n", b""))  # an inner newline: framed
    stream.send_shipment((30, 1, "utf16\n".encode("utf-16-le"), b""))  # NULs: framed
    stream.send_shipment((30, 1, b"no terminator", b""))  # framed
    stream.send_line(30, "single")  # a KIND_LEVEL frame: no output
    stream.send_shipment((30, 1, b"b4\n", b""))  # the output again: a KIND_DEST frame
    stream.send_shipment((40, _protocol.NO_LINE, b"", RECORD))  # a record frame only
    stream.send_shipment((40, 0, b"a3\n", RECORD))  # a line and a record frame: framed
    stream.send_shipment((40, 0, b"a4\n", b""))
    stream.send_shipment((40, 0, b"a5\n", b""))
    stream.send(_protocol.frame(_protocol.KIND_BYE, b""))


def _dest_items(items: list[_frames.Item]) -> list[object]:
    """Each item as data: a plain run as ("plain", level, dests, count, bytes), a run of
    tagged lines as ("tagged", [(level, dest, bytes)], bare), else as it is."""
    out: list[object] = []
    for item in items:
        if isinstance(item, _frames.LineRun) and item.plain:
            out.append(("plain", item.levels[0], item.dests, item.count(), bytes(item.lines[0])))
        elif isinstance(item, _frames.LineRun) and item.dests is not None:
            lines = zip(item.levels, item.dests, map(bytes, item.lines), strict=True)
            out.append(("tagged", list(lines), item.bare))
        else:
            assert not isinstance(item, _frames.LineRun)
            out.append(item)
    return out


DESTS = [
    ("plain", 20, [0], 2, b"a1\na2\n"),
    (
        "tagged",
        [
            (20, 1, b"b1\r\n"),
            (30, 1, b"b2\n"),
            (30, 2 | MORE, b"c2\n"),
            (30, 1, b"b3\n"),
            (30, 1, b"b3b\n"),
            (30, 1, b"two\nlines\n"),
            (30, 1, "utf16\n".encode("utf-16-le")),
            (30, 1, b"no terminator"),
        ],
        3,
    ),
    ("plain", 30, None, 1, b"single\n"),
    ("tagged", [(30, 1, b"b4\n")], 1),
    (_protocol.KIND_RECORD, b"\0\n" * 3),
    ("tagged", [(40, 0, b"a3\n")], 0),
    (_protocol.KIND_RECORD, b"\0\n" * 3),
    ("plain", 40, [0], 2, b"a4\na5\n"),
    (_protocol.KIND_BYE, b""),
]


def test_a_pipe_carries_a_plans_first_lines_plain_after_their_output() -> None:
    """A line plan's one-line records read back as plain lines of their level and output: a
    run of them as one view, counted; among frames, in the run of tagged lines around them,
    one element each, as if framed; lines that cannot be plain and records of more than one
    line or with a record frame in frames; the output frame is written only when the level
    or the output changes, a level frame clears the output."""
    data = _pipe_bytes(_write_dests)
    assert data.count(_protocol.dest_frame(20, 1)) == data.count(_protocol.dest_frame(40, 0)) == 1
    assert data.count(_protocol.dest_frame(30, 1)) == 2  # and again after the level frame
    assert _dest_items(_plain_reader().feed_runs(data)) == DESTS


def _dest_lines(items: list[_frames.Item]) -> tuple[list[object], int, int]:
    """One entry per line, (level, dest, bytes) or a frame; the records counted; the lines
    that came plain."""
    flat: list[object] = []
    records = bare = 0
    for item in items:
        if isinstance(item, _frames.LineRun):
            records += item.count()
            bare += item.count() if item.plain else item.bare
            dests = item.dests or [None]
            if item.plain:
                lines = bytes(item.lines[0]).splitlines(keepends=True)
                flat += [(item.levels[0], dests[0], line) for line in lines]
            else:
                flat += zip(item.levels, dests, map(bytes, item.lines), strict=True)
        else:
            flat.append(item)
    return flat, records, bare


def test_a_plans_lines_on_a_pipe_cut_at_every_byte_boundary_read_the_same() -> None:
    """Wherever a read ends, every line of the plan comes out once, whole, in order, with
    its level and output; the records and the lines that came plain count the same."""
    data = _pipe_bytes(_write_dests)
    whole = _dest_lines(_plain_reader().feed_runs(data))
    assert whole[1:] == (14, 9)
    for cut in range(len(data) + 1):
        reader = _plain_reader()
        got = reader.feed_runs(data[:cut]) + reader.feed_runs(data[cut:])
        assert _dest_lines(got) == whole, f"cut at {cut}"
        assert reader.pending == 0


class _Writes(Stream):
    """A pipe ``Stream`` that keeps each write it would make, and refuses while ``full``."""

    def __init__(self) -> None:
        super().__init__(None, -1, None)  # type: ignore[arg-type]  # no socket: pipe only
        self.writes: list[bytes] = []
        self.full = False

    def _put(self, data: bytes, *, wait: bool) -> bool:
        if self.full and not wait:
            self._level = self._output = None  # as Stream._put, on a refused write
            return False
        self.writes.append(data)
        return True


def test_a_record_is_one_write_and_a_refused_one_sends_its_output_again() -> None:
    """A record of several lines goes in one write, framed; a record refused for want of
    room (``wait=False``) took its output frame with it: the next line carries it again."""
    stream = _Writes()
    more = _protocol.dest_line_frame(20, 1 | MORE, b"b\n")
    more += _protocol.frame(_protocol.KIND_RECORD, b"r")
    assert stream.send_shipment((20, 0, b"a\n", more), wait=False)
    first = _protocol.dest_line_frame(20, 0, b"a\n")
    assert stream.writes == [_protocol.nul_framed(first + more)]
    stream.full = True
    assert not stream.send_shipment((30, 0, b"refused\n", b""), wait=False)
    stream.full = False
    assert stream.send_shipment((30, 0, b"again\n", b""), wait=False)
    assert stream.send_shipment((30, 0, b"then\n", b""), wait=False)
    assert stream.writes[1:] == [b"\0" + _protocol.dest_frame(30, 0) + b"again\n", b"then\n"]


def test_a_real_pipe_refusing_a_line_sends_its_output_again() -> None:
    """The same with a real pipe that fills up."""
    reader, writer = os.pipe()
    stream = Stream(None, writer, 5.0)  # type: ignore[arg-type]  # no socket: pipe only
    os.set_blocking(writer, False)
    os.set_blocking(reader, False)
    try:
        assert stream.send_shipment((30, 2, b"first\n", b""), wait=False)
        while stream.send_shipment((40, 2, b"x" * 1000 + b"\n", b""), wait=False):
            pass  # until the pipe is full and one is refused
        with pytest.raises(BlockingIOError):  # drain it all
            while os.read(reader, 1 << 20):
                pass
        assert stream.send_shipment((40, 2, b"again\n", b""), wait=False)
        assert os.read(reader, 1 << 20) == (
            _protocol.nul_framed(_protocol.dest_frame(40, 2)) + b"again\n"
        )
    finally:
        os.close(writer)
        os.close(reader)
