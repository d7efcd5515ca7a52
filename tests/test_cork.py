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
def uncorks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each thread that uncorked a socket, in order."""
    done: list[str] = []
    real = cork._set

    def spy(sock: socket.socket, on: bool) -> None:
        if not on:
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


def test_the_last_frame_of_a_burst_is_pushed_out_by_the_flusher_thread(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    corker, sender, receiver = corked
    assert corker.start()
    try:
        sender.sendall(b"lone record")
        corker.written()
        wait_for(lambda: uncorks, 10, "the flusher thread uncorks the socket")
        assert uncorks[0] != threading.current_thread().name
        assert receiver.recv(100) == b"lone record"
        assert _corked(sender)  # corked again for the next frames
    finally:
        corker.stop()


def test_a_steady_sender_uncorks_from_its_own_thread(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    """The logging thread flushes when its frame finds one FLUSH_EVERY old: while a process
    logs without pause, the flusher thread has nothing to do (none runs here)."""
    corker = corked[0]
    corker.written()
    assert uncorks == []
    corker._since -= cork.FLUSH_EVERY  # type: ignore[operator]  # the first frame is old now
    corker.written()
    assert uncorks == [threading.current_thread().name]


def test_flush_all_pushes_out_every_stream_of_this_process(
    corked: tuple[Corker, socket.socket, socket.socket], uncorks: list[str]
) -> None:
    """What a listener stopping in this process calls first (its own senders' last frames)."""
    corker, sender, receiver = corked
    sender.sendall(b"last words")
    corker.written()
    cork.flush_all()
    assert uncorks == [threading.current_thread().name]
    assert receiver.recv(100) == b"last words"


def test_a_stream_that_is_down_is_not_flushed(uncorks: list[str]) -> None:
    corker = Corker(lambda: None)
    corker.written()
    corker.flush()
    assert uncorks == []
