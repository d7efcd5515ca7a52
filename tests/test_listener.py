"""The listener loop (mplog._listener) driven over real sockets with hand-made frames:
authentication, framing across reads, torn frames, deaths and clean goodbyes, stats."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mplog import _listener, _wire
from mplog._listener import ListenerLoop
from mplog._routing import Route, Router
from tests._helpers import ListHandler

TOKEN = "t" * 32


class Harness:
    """A ListenerLoop on a private Unix socket, run in a thread, plus a control connection."""

    def __init__(self, path: Path) -> None:
        self.address = str(path)
        self.handler = ListHandler()
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
        sock.sendall(_wire.frame(_wire.KIND_HELLO, _wire.encode(hello)))
        return sock

    def ask(self, kind: int, body: dict[str, Any]) -> dict[str, Any]:
        self.control.sendall(_wire.frame(kind, _wire.encode(body)))
        reader = _wire.FrameReader()
        while True:
            data = self.control.recv(65536)
            assert data, "the listener closed the control connection without replying"
            for reply_kind, reply in reader.feed(data):
                assert reply_kind == _wire.KIND_REPLY
                return _wire.decode(reply)

    def stop(self) -> dict[str, Any]:
        stats = self.ask(_wire.KIND_STOP, {"timeout": 5.0})
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.control.close()
        return stats

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.handler.records]


def _record_frame(msg: str, name: str = "app") -> bytes:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)
    return _wire.frame(_wire.KIND_RECORD, _wire.record_body(record))


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
    sock.sendall(_wire.frame(_wire.KIND_BYE, b""))
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
        bad.sendall(_wire.frame(_wire.KIND_LINE, b"x"))
    with contextlib.suppress(ConnectionResetError):
        assert bad.recv(1) == b""
    bad.close()
    good = harness.connect(pid=104)
    good.sendall(_record_frame("still served") + _wire.frame(_wire.KIND_BYE, b""))
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
    lines = b"".join(_wire.line_frame(logging.INFO, f"line {i}") for i in range(3))
    sock.sendall(
        _wire.frame(_wire.KIND_HELLO, _wire.encode(hello))
        + lines
        + _wire.frame(_wire.KIND_BYE, b"")
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
    frame = _record_frame("sneaky") if kind == "record" else _wire.line_frame(20, "sneaky")
    sock.sendall(frame)
    with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
        assert sock.recv(1) == b""
    sock.close()
    stats = harness.stop()
    assert "sneaky" not in harness.messages()
    assert stats["rejected"] == 1


def test_garbage_record_body_does_not_kill_listener(harness: Harness) -> None:
    """An authenticated connection sending an undecodable record body is dropped; the
    listener keeps serving other processes and still replies to stop."""
    bad = harness.connect(pid=103)
    bad.sendall(_wire.frame(_wire.KIND_RECORD, b"\xff\x00garbage"))
    bad.close()
    good = harness.connect(pid=104)
    good.sendall(_record_frame("still here") + _wire.frame(_wire.KIND_BYE, b""))
    good.close()
    stats = harness.stop()
    assert "still here" in harness.messages()
    assert stats["processes"][104]["received"] == 1


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
        stats = harness.ask(_wire.KIND_STATS, {})
        if stats["received"] == 2:
            break
        threading.Event().wait(0.02)
    assert stats["received"] == 2 and stats["workers_seen"] == 1
    assert harness.thread.is_alive()
    sock.sendall(_wire.frame(_wire.KIND_BYE, b""))
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
    sock.sendall(_record_frame("before") + _wire.frame(_wire.KIND_BYE, b""))
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
    stats = harness.ask(_wire.KIND_STATS, {})
    assert time.monotonic() - started < 10, "the request waited for the pause to end"
    assert stats["received"] == 2
    worker.sendall(_wire.frame(_wire.KIND_BYE, b""))
    worker.close()
