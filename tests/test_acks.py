"""The listener's acknowledgements and its skipping of frames sent again after a reconnect."""

from __future__ import annotations

import socket

import pytest

from mplog import _frames, _protocol
from mplog._listener import acks as acks_module
from mplog._listener.acks import Acks
from mplog._listener.peers import Peer


def _peer(sock: socket.socket) -> Peer:
    return Peer(sock, remote="127.0.0.1", pid=1)


def _acks_received(sock: socket.socket) -> list[int]:
    sock.settimeout(5)
    frames = _frames.FrameReader().feed(sock.recv(4096))
    return [_protocol.ACK.unpack(body)[0] for kind, body in frames if kind == _protocol.KIND_ACK]


def test_frames_sent_again_are_skipped_and_acknowledged() -> None:
    acks = Acks()
    ours, theirs = socket.socketpair()
    first = _peer(ours)
    assert acks.hello(first, {"sid": "h:1:a", "seq": 1}) is None
    for n in range(3):
        assert acks.fresh(first, (_protocol.KIND_RECORD, b"%d" % n)) is not None
    acks.confirm(first)
    assert _acks_received(theirs) == [3]
    # The connection is cut before the sender saw the ack: it resends 2 and 3, then 4.
    second = _peer(ours)
    assert acks.hello(second, {"sid": "h:1:a", "seq": 2}) is first
    assert acks.fresh(second, (_protocol.KIND_RECORD, b"1")) is None
    run = _frames.LineRun([20, 20], [memoryview(b"x"), memoryview(b"y")])
    rest = acks.fresh(second, run)
    assert isinstance(rest, _frames.LineRun) and [bytes(v) for v in rest.lines] == [b"y"]
    acks.confirm(second)
    assert _acks_received(theirs) == [4]
    assert acks.counts == {"duplicates_skipped": 2, "reconnects": 1}
    ours.close()
    theirs.close()


def test_a_resend_of_only_written_frames_is_acknowledged() -> None:
    """A reconnect whose resent frames were all written still gets its acknowledgement."""
    acks = Acks()
    ours, theirs = socket.socketpair()
    first = _peer(ours)
    acks.hello(first, {"sid": "s", "seq": 1})
    acks.fresh(first, (_protocol.KIND_RECORD, b""))
    second = _peer(ours)
    acks.hello(second, {"sid": "s", "seq": 1})
    assert acks.fresh(second, (_protocol.KIND_RECORD, b"")) is None
    acks.confirm(second)
    assert _acks_received(theirs) == [1]
    ours.close()
    theirs.close()


@pytest.mark.parametrize(
    "hello", [{"sid": 3, "seq": 1}, {"sid": "", "seq": 1}, {"sid": "s", "seq": 0}, {"sid": "s"}]
)
def test_a_bad_identity_is_refused(hello: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"sid|seq"):
        Acks().hello(_peer(socket.socket()), hello)


def test_a_sender_without_identity_is_not_numbered() -> None:
    peer = _peer(socket.socket())
    assert Acks().hello(peer, {"pid": 1}) is None
    assert peer.sid is None
    peer.sock.close()


def test_a_tagged_run_sent_again_keeps_its_handlers() -> None:
    """A resent run of tagged lines that was written in part: the rest keeps the handler
    index of each line."""
    acks, sock = Acks(), socket.socket()
    first = _peer(sock)
    acks.hello(first, {"sid": "t", "seq": 1})
    acks.fresh(first, (_protocol.KIND_RECORD, b""))
    again = _peer(sock)
    acks.hello(again, {"sid": "t", "seq": 1})
    lines = [memoryview(b"a"), memoryview(b"b"), memoryview(b"c")]
    rest = acks.fresh(again, _frames.LineRun([20, 20, 30], lines, [0, 0x8001, 2]))
    assert isinstance(rest, _frames.LineRun)
    assert (rest.dests, [bytes(v) for v in rest.lines]) == ([0x8001, 2], [b"b", b"c"])
    sock.close()


def _pending(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    try:
        return sock.recv(4096)
    except BlockingIOError:
        return b""


def test_acknowledgements_wait_until_due_then_go_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reads handled within ACK_EVERY share one acknowledgement, sent when it is due."""
    clock = [100.0]
    monkeypatch.setattr(acks_module, "monotonic", lambda: clock[0])
    acks = Acks()
    ours, theirs = socket.socketpair()
    peer = _peer(ours)
    acks.hello(peer, {"sid": "s", "seq": 1, "spool": 1 << 20})
    for n in range(3):
        acks.fresh(peer, (_protocol.KIND_RECORD, b"%d" % n))
        acks.handled(peer, 100)
        clock[0] += acks_module.ACK_EVERY / 4
    acks.send_due()
    assert _pending(theirs) == b""  # not due yet
    assert acks.next_due() == pytest.approx(100.0 + acks_module.ACK_EVERY)
    clock[0] = 100.0 + acks_module.ACK_EVERY
    acks.send_due()
    assert _acks_received(theirs) == [3]
    assert acks.next_due() is None
    ours.close()
    theirs.close()


@pytest.mark.parametrize("why", ["goodbye", "half the spool"])
def test_a_goodbye_or_half_a_spool_is_acknowledged_at_once(why: str) -> None:
    acks = Acks()
    ours, theirs = socket.socketpair()
    peer = _peer(ours)
    acks.hello(peer, {"sid": "s", "seq": 1, "spool": 1000})
    acks.fresh(peer, (_protocol.KIND_RECORD, b""))
    acks.handled(peer, 10)
    assert _pending(theirs) == b""
    acks.fresh(peer, (_protocol.KIND_RECORD, b""))
    if why == "goodbye":
        peer.said_bye = True
        acks.handled(peer, 10)
    else:
        acks.handled(peer, 490)  # 500 bytes waiting: half of the sender's spool
    assert _acks_received(theirs) == [2]
    assert acks.next_due() is None
    ours.close()
    theirs.close()


def test_a_bad_spool_size_is_refused() -> None:
    ours, theirs = socket.socketpair()
    with pytest.raises(ValueError, match="spool"):
        Acks().hello(_peer(ours), {"sid": "s", "seq": 1, "spool": "big"})
    ours.close()
    theirs.close()
