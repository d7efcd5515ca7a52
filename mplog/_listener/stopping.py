"""Stopping the listener loop: the drain after STOP, and cutting off who is still logging.

Listener side only. :class:`Stopping` is owned by ``mplog._listener.loop.ListenerLoop`` and
runs once ``stop()`` has asked: what is owed is read (every record of a process that has
ended), what is not (a process still logging past the deadline) is cut off and counted, and
during long rounds of slow handlers the supervisor is kept informed. It holds the stop's
state (deadline, linger, when to check in next) and reaches the loop only through
:class:`Served`, the few things of the loop it needs.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from mplog import _frames, _protocol
from mplog._listener.peers import Peer

#: In a long round (slow handlers), how often the loop serves the supervisor's requests.
CHECK_IN = 0.2


class Served(Protocol):
    """What :class:`Stopping` needs of the loop that owns it: its open streams, the
    supervisor's one, and the loop's steps (take connections, serve one round, read one
    stream, close one)."""

    @property
    def peers(self) -> Mapping[socket.socket, Peer]: ...

    @property
    def control(self) -> Peer | None: ...

    def accept(self) -> None: ...

    def serve(self, timeout: float) -> int: ...

    def read(self, peer: Peer) -> None: ...

    def close(self, peer: Peer, *, ended: str | None = None) -> None: ...


class Stopping:
    """The stop and drain of the loop ``loop``; ``linger``: how long an idle process still
    alive is read during the drain."""

    def __init__(self, loop: Served, linger: float) -> None:
        self._loop = loop
        self._linger = linger
        #: When stop() asked the loop to be done by (None: not asked yet).
        self.deadline: float | None = None
        self._next_check_in = 0.0

    def begin(self, timeout: float) -> None:
        """Stop was asked (or the supervisor is gone): be done within ``timeout`` s."""
        if self.deadline is None:
            self.deadline = time.monotonic() + timeout

    def checked_in(self) -> None:
        """The loop has just served every event (the supervisor's too): the next check-in
        is due CHECK_IN from now."""
        self._next_check_in = time.monotonic() + CHECK_IN

    def drain(self) -> None:
        """After STOP: read until nothing more is owed (the loop's shutdown closes what is left).

        A process that has ended (it exited, said goodbye, or is main, which closed its
        stream before asking to stop) is read to the end of its stream however long its
        records take to handle: what it wrote is finite and owed. A process still alive is
        read until it has been idle for ``linger`` seconds, or until the deadline; then it
        is cut off and what it left unread is counted. Idleness is measured from when its
        last data was *handled*, and only once no stream has anything to read, so a round of
        slow handlers never passes for silence.
        """
        assert self.deadline is not None
        loop = self._loop
        while True:
            loop.accept()
            live = [p for p in self.open_workers() if not self._ended(p)]
            now = time.monotonic()
            if live and now >= self.deadline:
                for peer in live:
                    self.cut_off(peer)
                continue
            if loop.serve(0.0):
                continue
            if not live:
                return
            idle = now - max(peer.last_data for peer in live)
            wait = min(self._linger - idle, self.deadline - now)
            if wait <= 0:
                return
            loop.serve(wait)

    def open_workers(self) -> list[Peer]:
        """Every stream still open but the supervisor's."""
        control = self._loop.control
        return [peer for peer in self._loop.peers.values() if peer is not control]

    def _ended(self, peer: Peer) -> bool:
        """Whether ``peer`` will write nothing more: only its stream's contents remain."""
        control = self._loop.control
        main = control is not None and (peer.pid, peer.interpreter, peer.host) == (
            control.pid,
            control.interpreter,
            control.host,
        )
        return peer.said_bye or peer.exited or main

    def cut_off(self, peer: Peer, unhandled: Sequence[_frames.Item] = ()) -> None:
        """Close a process's stream at stop, counting what it leaves unread: what is still in
        the stream and the ``unhandled`` items already read from it."""
        peer.count_unread(unhandled)
        self._loop.close(peer, ended="cut off by stop()")

    def overdue(self, peer: Peer) -> bool:
        """Between two items of a read: check in with the supervisor if a second has passed
        (slow handlers make long rounds), and say whether stop()'s deadline has passed for
        ``peer``, a process still alive that must be cut off now."""
        now = time.monotonic()
        if now >= self._next_check_in:
            self._check_in()
        deadline = self.deadline
        return deadline is not None and now >= deadline and not self._ended(peer)

    def _check_in(self) -> None:
        """Serve a request the supervisor sent during a long round (a stop sets the deadline,
        a stats request is answered), and while draining tell it that records are still
        being handled, so that it keeps waiting rather than declaring the listener stuck."""
        self._next_check_in = time.monotonic() + CHECK_IN
        control = self._loop.control
        if control is None or control.sock not in self._loop.peers:  # gone: nobody to serve
            return
        if select.select([control.sock], [], [], 0)[0]:
            self._loop.read(control)
        if self.deadline is not None and control.sock in self._loop.peers:
            control.send_quietly(_protocol.frame(_protocol.KIND_PROGRESS, b""))
