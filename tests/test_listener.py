"""The listener loop (mplog._listener.loop) driven over real sockets with hand-made frames:
authentication, framing across reads, torn frames, deaths and clean goodbyes, stats."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mplog import _frames, _protocol
from mplog._listener import loop as _listener
from mplog._listener.loop import ListenerLoop
from mplog._listener.peers import Peer
from mplog._outputs.router import Route, Router
from mplog._worker.connection import _F_SETPIPE_SZ
from tests._helpers import ListHandler

TOKEN = "t" * 32


class Harness:
    """A ListenerLoop on a private Unix socket, run in a thread, plus a control connection."""

    def __init__(self, path: Path, handler: ListHandler | None = None) -> None:
        self.address = str(path)
        self.handler = handler or ListHandler()
        server = socket.socket(socket.AF_UNIX)
        server.bind(self.address)
        server.listen(16)
        self.loop = ListenerLoop(server, TOKEN, Router(Route((self.handler,))), linger=0.1)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()
        self.control = self.connect(role="control")

    def connect(self, *, pid: int | None = None, role: str = "worker", token: str = TOKEN) -> Any:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(30)
        sock.connect(self.address)
        hello = {"pid": pid or os.getpid(), "name": "p", "role": role, "token": token}
        sock.sendall(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)))
        return sock

    def connect_pipe(self, pid: int) -> tuple[Any, int]:
        """Connect as ``pid`` and pass a 1 MiB pipe, as processes do: (socket, write end)."""
        sock = self.connect(pid=pid)
        reader, writer = os.pipe()
        fcntl.fcntl(writer, _F_SETPIPE_SZ, 1 << 20)
        socket.send_fds(sock, [_protocol.frame(_protocol.KIND_PIPE, b"")], [reader])
        os.close(reader)
        return sock, writer

    def ask(self, kind: int, body: dict[str, Any]) -> dict[str, Any]:
        self.control.sendall(_protocol.frame(kind, _protocol.encode(body)))
        reader = _frames.FrameReader()
        while True:
            data = self.control.recv(65536)
            assert data, "the listener closed the control connection without replying"
            for reply_kind, reply in reader.feed(data):
                if reply_kind == _protocol.KIND_PROGRESS:  # a long round is going on
                    continue
                assert reply_kind == _protocol.KIND_REPLY
                return _protocol.decode(reply)

    def stop(self) -> dict[str, Any]:
        stats = self.ask(_protocol.KIND_STOP, {"timeout": 5.0})
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.control.close()
        return stats

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.handler.records]


def _record_frame(msg: str, name: str = "app") -> bytes:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)
    return _protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record))


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A running listener loop, stopped after the test if the test did not stop it."""
    h = Harness(tmp_path / "loop.sock")
    yield h
    if h.thread.is_alive():
        h.stop()


def test_records_split_across_writes_are_reassembled(harness: Harness) -> None:
    """Frames written byte by byte (and many per write) are all handled, in order."""
    sock = harness.connect(pid=101)
    data = b"".join(_record_frame(f"m{i}") for i in range(20))
    for i in range(0, 200):
        sock.sendall(data[i : i + 1])
    sock.sendall(data[200:])
    sock.sendall(_protocol.frame(_protocol.KIND_BYE, b""))
    sock.close()
    stats = harness.stop()
    assert harness.messages() == [f"m{i}" for i in range(20)]
    assert stats["processes"][101]["received"] == 20
    assert stats["processes"][101]["state"] == "closed"
    assert stats["torn_frames"] == 0


def test_wrong_token_rejected_without_torn_frame_report(harness: Harness) -> None:
    """A wrong token closes the connection: nothing it sent is handled, it is counted as
    rejected, and it is not misreported as a torn frame or a dead worker."""
    sock = harness.connect(pid=102, token="x" * 32)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may be closed by now
        sock.sendall(_record_frame("forged"))
    with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
        assert sock.recv(1) == b""
    sock.close()
    stats = harness.stop()
    assert "forged" not in harness.messages()
    assert stats["rejected"] == 1
    assert stats["torn_frames"] == 0, harness.messages()
    assert 102 not in stats["processes"]


def test_malformed_line_frame_cuts_off_only_its_sender(harness: Harness) -> None:
    """A line frame too short to hold its level closes that connection and is counted as
    rejected; the listener keeps serving everyone else."""
    bad = harness.connect(pid=103)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        bad.sendall(_protocol.frame(_protocol.KIND_LINE, b"x"))
    with contextlib.suppress(ConnectionResetError):
        assert bad.recv(1) == b""
    bad.close()
    good = harness.connect(pid=104)
    good.sendall(_record_frame("still served") + _protocol.frame(_protocol.KIND_BYE, b""))
    good.close()
    stats = harness.stop()
    assert harness.messages() == ["still served"]
    assert stats["rejected"] == 1
    assert stats["processes"][103]["state"].startswith("cut off: it sent a frame")


def test_lines_arriving_with_the_hello_are_written(harness: Harness) -> None:
    """Over a socket stream (TCP) a process's first lines can arrive in the same read as its
    hello: they are written like any other, none is rejected."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(harness.address)
    hello = {"pid": 109, "name": "p", "role": "worker", "token": TOKEN}
    lines = b"".join(_protocol.line_frame(logging.INFO, f"line {i}") for i in range(3))
    sock.sendall(
        _protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello))
        + lines
        + _protocol.frame(_protocol.KIND_BYE, b"")
    )
    sock.close()
    stats = harness.stop()
    assert stats["rejected"] == 0
    assert stats["processes"][109]["received"] == 3
    assert stats["processes"][109]["state"] == "closed"


@pytest.mark.parametrize("kind", ["record", "line"])
def test_record_before_hello_is_rejected(harness: Harness, kind: str) -> None:
    """A connection that sends a record (whole, or as a finished line) before introducing
    itself is dropped unread."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(harness.address)
    frame = _record_frame("sneaky") if kind == "record" else _protocol.line_frame(20, "sneaky")
    sock.sendall(frame)
    with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
        assert sock.recv(1) == b""
    sock.close()
    stats = harness.stop()
    assert "sneaky" not in harness.messages()
    assert stats["rejected"] == 1


def test_garbage_record_body_does_not_kill_listener(harness: Harness) -> None:
    """An undecodable record body from an authenticated connection is skipped and counted;
    the listener keeps serving other processes and still replies to stop."""
    bad = harness.connect(pid=103)
    bad.sendall(_protocol.frame(_protocol.KIND_RECORD, b"\xff\x00garbage"))
    bad.close()
    good = harness.connect(pid=104)
    good.sendall(_record_frame("still here") + _protocol.frame(_protocol.KIND_BYE, b""))
    good.close()
    stats = harness.stop()
    assert "still here" in harness.messages()
    assert stats["processes"][104]["received"] == 1


def test_a_bad_record_frame_costs_no_other_record(harness: Harness) -> None:
    """A record frame that cannot be decoded, in the middle of a run of records read at
    once, is reported and counted as rejected; every record before and after it (in the
    same read and later ones) is written in order, and the process is not cut off."""
    sock = harness.connect(pid=111)
    bad = _protocol.frame(_protocol.KIND_RECORD, b"\xff\x00garbage")
    sock.sendall(b"".join(_record_frame(f"r{i}") for i in range(3)) + bad + _record_frame("r3"))
    sock.sendall(_record_frame("r4") + _protocol.frame(_protocol.KIND_BYE, b""))
    sock.close()
    stats = harness.stop()
    messages = harness.messages()
    assert [m for m in messages if m.startswith("r")] == [f"r{i}" for i in range(5)]
    (report,) = [m for m in messages if "cannot be decoded" in m]
    assert report.startswith("process 111 (p) sent 1 frame(s)") and "skipped" in report
    assert stats["rejected"] == 1
    assert stats["processes"][111]["received"] == 5
    assert stats["processes"][111]["written"] == 5
    assert stats["processes"][111]["state"] == "closed"


def test_stop_cuts_a_process_off_in_the_middle_of_a_run_of_records(tmp_path: Path) -> None:
    """When stop()'s deadline has passed for a process still alive, the listener stops
    between two records of a run read at once: the rest of the run, and what the stream
    still holds, are counted as unread, not written."""
    handler = ListHandler()
    loop = ListenerLoop(None, TOKEN, Router(Route((handler,))))
    mine, theirs = socket.socketpair()
    with theirs:
        mine.setblocking(False)
        peer = Peer(mine, pid=112, name="p")
        loop.peers[mine] = peer
        loop._selector.register(mine, selectors.EVENT_READ, peer)
        theirs.sendall(b"".join(_record_frame(f"r{i}") for i in range(10)))
        loop._stop.deadline = time.monotonic()  # passed: peer is alive (no goodbye)
        loop.read(peer)
        assert handler.messages == ["r0"]
        assert (peer.unread_records, peer.ended) == (9, "cut off by stop()")
        assert peer.received == peer.written == 1
        assert mine not in loop.peers
    loop._selector.close()


def test_torn_frame_and_death_are_reported(harness: Harness) -> None:
    """A stream that ends mid-frame without goodbye: the whole records before the tear are
    handled, the partial one is counted as torn and a warning names the process."""
    sock = harness.connect(pid=105)
    frame = _record_frame("whole")
    sock.sendall(frame + _record_frame("partial")[:10])
    sock.close()
    stats = harness.stop()
    messages = harness.messages()
    assert messages[0] == "whole"
    assert stats["torn_frames"] == 1
    assert stats["workers_dead"] == 1
    assert stats["processes"][105]["state"].startswith("died")
    assert any("process 105" in m and "middle of a record" in m for m in messages)
    assert any("process 105" in m and "without closing" in m for m in messages)


def test_stats_request_and_backlog(harness: Harness) -> None:
    """KIND_STATS returns the counts so far without stopping the listener."""
    sock = harness.connect(pid=106)
    sock.sendall(_record_frame("one") + _record_frame("two"))
    for _ in range(100):
        stats = harness.ask(_protocol.KIND_STATS, {})
        if stats["received"] == 2:
            break
        threading.Event().wait(0.02)
    assert stats["received"] == 2 and stats["workers_seen"] == 1
    assert harness.thread.is_alive()
    sock.sendall(_protocol.frame(_protocol.KIND_BYE, b""))
    sock.close()
    assert harness.stop()["processes"][106]["state"] == "closed"


def test_stop_drains_connections_still_open(harness: Harness) -> None:
    """Records already written by a process that is still connected when stop() arrives are
    handled before the listener replies; the connection is then cut off."""
    sock = harness.connect(pid=107)
    sock.sendall(b"".join(_record_frame(f"d{i}") for i in range(500)))
    stats = harness.stop()
    assert harness.messages() == [f"d{i}" for i in range(500)]
    assert stats["processes"][107]["state"] == "cut off by stop()"
    sock.close()


def test_control_connection_lost_stops_the_loop(harness: Harness) -> None:
    """If the supervisor's control connection ends, the listener drains and stops by itself
    (closing its handlers) instead of running forever."""
    sock = harness.connect(pid=108)
    sock.sendall(_record_frame("before") + _protocol.frame(_protocol.KIND_BYE, b""))
    sock.close()
    harness.control.close()
    harness.thread.join(30)
    assert not harness.thread.is_alive()
    assert harness.messages() == ["before"]


def test_a_supervisor_request_ends_the_pause_after_a_trickle(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a small round the loop pauses to let records pile up; a request on the control
    connection ends that pause at once (with a 60 s pause, the answer still comes quickly)."""

    def arrived(count: int) -> None:
        deadline = time.monotonic() + 10
        while len(harness.handler.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(harness.handler.records) == count

    worker = harness.connect(pid=108)
    worker.sendall(_record_frame("first"))
    arrived(1)
    monkeypatch.setattr(_listener, "_PAUSE", 60.0)
    worker.sendall(_record_frame("trickle"))
    arrived(2)  # the round that brought it is followed by a (long) pause
    started = time.monotonic()
    stats = harness.ask(_protocol.KIND_STATS, {})
    assert time.monotonic() - started < 10, "the request waited for the pause to end"
    assert stats["received"] == 2
    worker.sendall(_protocol.frame(_protocol.KIND_BYE, b""))
    worker.close()


class SlowListHandler(ListHandler):
    """Takes ``delay`` seconds per record: a handler slower than the producers."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(self.delay)
        super().emit(record)


@pytest.fixture
def slow_harness(tmp_path: Path) -> Iterator[Harness]:
    """A running listener loop whose handler takes 2 ms per record."""
    h = Harness(tmp_path / "slow.sock", SlowListHandler(0.002))
    yield h
    if h.thread.is_alive():
        h.stop()


@contextlib.contextmanager
def _process(*, exited: bool) -> Iterator[int]:
    """The pid of a real process: one that has exited (and was reaped), or one still alive."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if exited:
            child.kill()
            child.wait(10)
        yield child.pid
    finally:
        child.kill()
        child.wait(10)


def test_stop_reads_an_ended_process_to_the_end_however_slow(slow_harness: Harness) -> None:
    """A process that has exited is owed every record it wrote: handling them takes longer
    than linger, and longer than the stop timeout, and none is lost or reported torn."""
    with _process(exited=True) as pid:
        sock = slow_harness.connect(pid=pid)
        sock.sendall(b"".join(_record_frame(f"e{i}") for i in range(400)))
        stats = slow_harness.ask(_protocol.KIND_STOP, {"timeout": 0.3})
        slow_harness.thread.join(30)
        sock.close()
    assert slow_harness.messages() == [f"e{i}" for i in range(400)]
    process = stats["processes"][pid]
    assert (process["written"], process["unread_records"], process["unread_bytes"]) == (400, 0, 0)
    assert stats["torn_frames"] == 0 and stats["unread_records"] == 0


def test_stop_counts_exactly_what_it_cuts_off(slow_harness: Harness) -> None:
    """A process still alive and still owing records at the deadline is cut off: what it
    left unread is counted exactly, records and bytes, a partial record included in the
    bytes only; nothing is reported torn."""
    frames = [b"\0" + _record_frame(f"a{i}") for i in range(1000)]  # a NUL before each
    partial = b"\0" + _record_frame("partial")[:9]
    with _process(exited=False) as pid:
        sock, pipe = slow_harness.connect_pipe(pid)
        os.write(pipe, b"".join(frames) + partial)  # ~0.4 MB: it all fits in the pipe
        stats = slow_harness.ask(_protocol.KIND_STOP, {"timeout": 0.3})
        slow_harness.thread.join(30)
        sock.close()
        os.close(pipe)
    process = stats["processes"][pid]
    handled = process["written"]
    assert 0 < handled < 1000
    assert slow_harness.messages() == [f"a{i}" for i in range(handled)]
    assert process["unread_records"] == 1000 - handled
    assert process["unread_bytes"] == sum(map(len, frames[handled:])) + len(partial)
    assert process["state"] == "cut off by stop()"
    assert stats["unread_records"] == 1000 - handled and stats["torn_frames"] == 0


def test_an_idle_live_process_is_not_waited_for(harness: Harness) -> None:
    """A process still alive that has sent everything is idle: stop() waits only ``linger``
    for it, not its timeout (600 s here: the control connection's 30 s timeout would fail
    the request first), then closes its stream with nothing unread."""
    with _process(exited=False) as pid:
        sock = harness.connect(pid=pid)
        sock.sendall(_record_frame("only"))
        stats = harness.ask(_protocol.KIND_STOP, {"timeout": 600.0})
        harness.thread.join(30)
        sock.close()
    assert harness.messages() == ["only"]
    assert stats["processes"][pid]["unread_records"] == 0
    assert stats["processes"][pid]["state"] == "cut off by stop()"


def test_supervisor_gone_during_a_long_round(slow_harness: Harness) -> None:
    """The supervisor's connection ends while slow handlers are busy with a long read: the
    loop notices at its next check-in, drains what the (ended) process wrote and stops."""
    with _process(exited=True) as pid:
        sock, pipe = slow_harness.connect_pipe(pid)
        os.write(pipe, b"".join(b"\0" + _record_frame(f"g{i}") for i in range(600)))
        os.close(pipe)
        time.sleep(0.3)  # the loop is in the middle of handling the first read
        slow_harness.control.close()
        slow_harness.thread.join(30)
        sock.close()
    assert not slow_harness.thread.is_alive()
    assert slow_harness.messages()[:600] == [f"g{i}" for i in range(600)]
