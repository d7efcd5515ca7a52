"""What the listener writes for a process (``mplog._listener.writing``): lines appended,
records routed by the process or by logger, every record counted once per process; a network
sender's lines checked against the welcome, a stale sender's misfits written as records.
Real files; the network side end to end is in ``tests/test_welcome.py``."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mplog import _frames, _protocol
from mplog._lineplan import DESTS_FIELD, MORE
from mplog._listener.peers import Peer
from mplog._listener.welcome import Welcome
from mplog._listener.writing import Writer
from mplog._outputs.router import Route, Router


@pytest.fixture
def peer() -> Iterator[Peer]:
    ours, theirs = socket.socketpair()
    yield Peer(ours, pid=7, name="p", reader=_frames.FrameReader(64))
    ours.close()
    theirs.close()


def _router(tmp_path: Path) -> tuple[Router, list[logging.FileHandler]]:
    handlers = [logging.FileHandler(tmp_path / f"{n}.log") for n in "ab"]
    handlers[0].setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handlers[1].setFormatter(logging.Formatter("%(name)s %(message)s"))
    return Router(Route(tuple(handlers))), handlers


def _run(tags: list[int], texts: list[bytes]) -> _frames.LineRun:
    return _frames.LineRun([20] * len(texts), [memoryview(t) for t in texts], tags)


def test_tagged_lines_and_routed_records_count_each_record_once(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    writer = Writer(router, None)
    assert writer.lines(peer, _run([0, MORE | 1], [b"A\n", b"B\n"])) is None
    record = _protocol.wire_fields(logging.LogRecord("n", 30, "f", 1, "rec", None, None))
    writer.record(peer, {**record, DESTS_FIELD: [1, 1]})  # its lines counted it
    writer.record(peer, {**record, DESTS_FIELD: [0, 0]})
    writer.record(peer, dict(record))  # routed here: both handlers
    router.close()
    assert (tmp_path / "a.log").read_text() == "A\nWARNING rec\nWARNING rec\n"
    assert (tmp_path / "b.log").read_text() == "B\nn rec\nn rec\n"
    assert (peer.received, peer.written) == (3, 3)


def test_network_lines_are_checked_against_the_welcome(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    welcome = Welcome(router, None)
    assert welcome.lines and welcome.digest
    writer = Writer(router, welcome)
    peer.remote = "10.0.0.1"
    assert "handler 2" in str(writer.lines(peer, _run([2], [b"x\n"])))
    assert "frame size limit" in str(writer.lines(peer, _run([0], [b"x" * 65])))
    untagged = _frames.LineRun([20], [memoryview(b"x\n")])
    assert "did not ask for" in str(writer.lines(peer, untagged))
    assert writer.lines(peer, _run([1], [b"fits\n"])) is None
    router.close()
    assert (tmp_path / "b.log").read_text() == "fits\n" and peer.received == 1


def test_a_stale_senders_misfits_are_written_as_records(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    welcome = Welcome(router, None)
    peer.remote = "10.0.0.1"
    welcome.greet(peer, {"plan": "another"})
    assert peer.stale and peer.lines
    writer = Writer(router, welcome)
    assert writer.lines(peer, _run([5, MORE | 6], [b"old line\r\n", b"more\n"])) is None
    assert "frame size limit" in str(writer.lines(peer, _run([9], [b"y" * 65])))
    router.close()
    text = (tmp_path / "a.log").read_text().splitlines()
    assert text[0].startswith("WARNING process 7 at 10.0.0.1 sent again lines")
    assert text[1:] == ["INFO old line"]
    assert (peer.received, peer.stale_lines) == (1, 1)


def test_an_empty_welcome_for_handlers_that_need_records(peer: Peer) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(lambda record: True)
    welcome = Welcome(Router(Route((handler,))), None)
    assert not welcome.lines and welcome.digest is None
    assert welcome.frame == _protocol.frame(_protocol.KIND_WELCOME, b"")
    welcome.greet(peer, {})
    assert not peer.stale
