"""A network sender's corked socket: its frames leave in fuller segments, and never wait."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from mplog._worker import cork
from mplog._worker.cork import Corker
from tests._helpers import wait_for

pytestmark = pytest.mark.skipif(not cork.AVAILABLE, reason="no TCP_CORK on this platform")


@pytest.fixture
def tcp() -> Iterator[tuple[socket.socket, socket.socket]]:
    server = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(server.getsockname(), timeout=10)
    receiver, _ = server.accept()
    server.close()
    receiver.settimeout(10)
    yield sender, receiver
    sender.close()
    receiver.close()


@pytest.fixture
def corked(tcp: tuple[socket.socket, socket.socket]) -> tuple[Corker, socket.socket, socket.socket]:
    """A corker (no flusher thread yet), its corked sender socket, and the receiving end."""
    sender, receiver = tcp
    corker = Corker(lambda: sender)
    assert corker.cork(sender)
    return corker, sender, receiver


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """FLUSH_EVERY a minute: whether the logging thread flushes no longer depends on how
    long this test's thread waits for a core between two calls."""
    monkeypatch.setattr(cork, "FLUSH_EVERY", 60.0)


@pytest.fixture
def uncorks(
    monkeypatch: pytest.MonkeyPatch, corked: tuple[Corker, socket.socket, socket.socket]
) -> list[str]:
    """The name of each thread that uncorked the corked fixture's socket, in order (other
    streams of this test process, left by earlier tests, are not counted)."""
    done: list[str] = []
    real, ours = cork._set, corked[1]

    def spy(sock: socket.socket, on: bool) -> None:
        if not on and sock is ours:
            done.append(threading.current_thread().name)
        real(sock, on)

    monkeypatch.setattr(cork, "_set", spy)
    return done


def _corked(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


def test_only_tcp_sockets_are_corked(tcp: tuple[socket.socket, socket.socket]) -> None:
    corker = Corker(lambda: None)
    assert corker.cork(tcp[0]) and _corked(tcp[0])
    a, b = socket.socketpair()
    assert not corker.cork(a)
    a.close()
    b.close()


def test_a_lone_frame_leaves_at_once(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    corker, sender, receiver = corked
    sender.sendall(b"lone record")
    corker.written()
    assert uncorks == [threading.current_thread().name]
    assert receiver.recv(100) == b"lone record"
    assert _corked(sender)  # corked again for the next frames


@pytest.mark.usefixtures("patient")
def test_the_last_frames_of_a_burst_are_pushed_out_by_the_flusher_thread(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    corker, sender, receiver = corked
    assert corker.start()
    try:
        sender.sendall(b"first ")
        corker.written()  # after a quiet spell: at once, from this thread
        sender.sendall(b"last")
        corker.written()  # right after: it waits for the next frames, or the flusher
        wait_for(lambda: len(uncorks) == 2, 10, "the flusher thread uncorks the socket")
        assert uncorks[1] != threading.current_thread().name
        received = b""
        while len(received) < len(b"first last"):
            received += receiver.recv(100)
        assert received == b"first last"
    finally:
        corker.stop()


@pytest.mark.usefixtures("patient")
def test_a_steady_sender_uncorks_from_its_own_thread(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    """The logging thread flushes when its frame finds one FLUSH_EVERY old: while a process
    logs without pause, the flusher thread has nothing to do (none runs here)."""
    corker = corked[0]
    corker.written()  # the first: at once
    corker.written()
    corker.written()
    assert len(uncorks) == 1
    corker._since -= cork.FLUSH_EVERY  # type: ignore[operator]  # the second is old now
    corker.written()
    assert uncorks == [threading.current_thread().name] * 2


@pytest.mark.usefixtures("patient")
def test_flush_all_pushes_out_every_stream_of_this_process(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    """What a listener stopping in this process calls first (its own senders' last frames)."""
    corker, sender, receiver = corked
    corker.written()  # the first frame: at once
    sender.sendall(b"last words")
    corker.written()
    cork.flush_all()
    assert uncorks == [threading.current_thread().name] * 2
    assert receiver.recv(100) == b"last words"


def test_a_stream_that_is_down_or_not_corked_is_not_flushed(
    tcp: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No socket option is touched for a stream whose connection is gone, nor for one that
    was never corked (what a non-TCP socket, or a platform without TCP_CORK, gives)."""
    sender, _ = tcp
    down = Corker(lambda: None)
    assert down.cork(sender)  # corked, then the connection went away
    uncorked = Corker(lambda: sender)  # a socket it never corked

    def refuse(sock: socket.socket, on: bool) -> None:
        raise AssertionError("a socket option was set")

    monkeypatch.setattr(cork, "_set", refuse)
    for corker in (down, uncorked):
        corker.written()
        corker.flush()
