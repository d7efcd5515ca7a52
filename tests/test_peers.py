"""mplog._listener.peers: the listener's view of a process: bytes waiting, what is left unread."""

from __future__ import annotations

import logging
import os
import socket

from mplog import _frames, _protocol
from mplog._lineplan import MORE
from mplog._listener.peers import Peer, unread_bytes


def test_unread_bytes_of_a_pipe_and_a_socket() -> None:
    """unread_bytes() counts what waits in a pipe or a socket, and is 0 for a closed one."""
    reader, writer = os.pipe()
    left, right = socket.socketpair()
    try:
        os.write(writer, b"x" * 10)
        right.sendall(b"y" * 7)
        assert unread_bytes(reader) == 10
        assert unread_bytes(left) == 7
    finally:
        for fd in (reader, writer):
            os.close(fd)
        left.close()
        right.close()
    assert unread_bytes(reader) == 0


def _frame(msg: str) -> bytes:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, msg, None, None)
    return _protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record))


def test_count_unread_counts_whole_records_and_every_byte() -> None:
    """Records and lines left in the stream are counted, a frame split across the reader's
    held-back part and the stream included; a partial record counts in the bytes only."""
    left, right = socket.socketpair()
    peer = Peer(left, pid=1)
    line = _protocol.line_frame(logging.INFO, "a line")
    first, second = _frame("one"), _frame("two")
    try:
        peer.reader.feed_runs(first[:7])  # a read that ended inside a record
        rest = (
            first[7:] + line + line + second + _protocol.frame(_protocol.KIND_BYE, b"") + second[:5]
        )
        right.sendall(rest)
        peer.count_unread()
    finally:
        left.close()
        right.close()
    assert peer.unread_records == 4
    assert peer.unread_bytes == 7 + len(rest)


def test_count_unread_counts_a_run_of_records_left_unhandled() -> None:
    """A run of record frames cut off at stop counts as its records, and as their bytes with
    their headers, beside what is still in the stream."""
    left, right = socket.socketpair()
    peer = Peer(left, pid=1)
    frames = [_frame("one"), _frame("two"), _frame("three")]
    try:
        (run,) = _frames.FrameReader().feed_runs(b"".join(frames[:2]), records=True)
        right.sendall(frames[2])
        peer.count_unread([run])
    finally:
        left.close()
        right.close()
    assert peer.unread_records == 3
    assert peer.unread_bytes == sum(map(len, frames))


def test_count_lines_per_level_one_line_or_many() -> None:
    """A run of one line (as between record frames) and a longer one count the same way:
    per level name, a record's later lines (tagged MORE) not again."""
    left, right = socket.socketpair()
    with left, right:
        peer = Peer(left, pid=1)
        one = _frames.LineRun([logging.ERROR], [memoryview(b"e\n")], [0])
        many = _frames.LineRun([20, 20, 30, 20], [memoryview(b"x\n")] * 4, [0, MORE | 0, 1, 0])
        peer.count_lines(one, written=True)
        peer.count_lines(many, written=False)
        peer.count_lines(_frames.LineRun([25], [memoryview(b"c\n")]), written=True)
    assert dict(peer.levels) == {"ERROR": 1, "INFO": 2, "WARNING": 1, "Level 25": 1}
    assert (peer.received, peer.written) == (5, 2)


def test_plain_lines_of_a_plan_count_as_their_records_and_bytes() -> None:
    """On a pipe, plain lines for a plan output (a run of them, and one joining the tagged
    frames after it) count as one record each, at their level, and as their bytes alone
    (the output frame before them is not a record's): received, and unread at stop."""
    reader, writer = os.pipe()
    left, right = socket.socketpair()
    later = _protocol.dest_line_frame(30, 1 | MORE, b"b\n")
    lines = [b"a1\n", b"a2\n", b"a3\n"]
    data = (
        _protocol.nul_framed(_protocol.dest_frame(20, 0))
        + b"".join(lines)
        + _protocol.nul_framed(_protocol.dest_frame(30, 0))
        + b"w\n"
        + _protocol.nul_framed(later)
    )
    try:
        peer = Peer(left, pid=1, pipe=reader)
        peer.reader.plain = True
        items = peer.reader.feed_runs(data[:-1])
        runs = [item for item in items if isinstance(item, _frames.LineRun)]
        assert [(run.plain, run.count()) for run in runs] == [(True, 3), (False, 1)]
        for run in runs:
            peer.count_lines(run, written=True)
        assert dict(peer.levels) == {"INFO": 3, "WARNING": 1}
        assert (peer.received, peer.written) == (4, 4)
        os.write(writer, data[-1:])
        peer.count_unread(items)
    finally:
        for fd in (reader, writer):
            os.close(fd)
        left.close()
        right.close()
    assert peer.unread_records == 4
    assert peer.unread_bytes == sum(map(len, lines)) + len(b"w\n") + 1 + len(later)  # its NUL
