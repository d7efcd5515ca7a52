"""Stopping the listener loop: the drain after STOP, and cutting off who is still logging.

Listener side only. :class:`Stopping` is the part of ``mplog._listener.loop.ListenerLoop``
that runs once ``stop()`` has asked: what is owed is read (every record of a process that
has ended), what is not (a process still logging past the deadline) is cut off and counted,
and during long rounds of slow handlers the supervisor is kept informed.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Sequence

from mplog import _protocol
from mplog._listener.peers import Peer

#: In a long round (slow handlers), how often the loop serves the supervisor's requests.
CHECK_IN = 0.2


class Stopping:
    """The stop and drain half of the listener loop (its state lives in the loop)."""

    _peers: dict[socket.socket, Peer]
    _control: Peer | None
    _deadline: float | None
    _next_check_in: float
    _linger: float

    def _accept(self) -> None:
        raise NotImplementedError

    def _round(self, timeout: float) -> int:
        raise NotImplementedError

    def _read(self, peer: Peer) -> None:
        raise NotImplementedError

    def _close(self, peer: Peer, *, ended: str | None = None) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        """After STOP: read until nothing more is owed (``_shutdown`` closes what is left).

        A process that has ended (it exited, said goodbye, or is main, which closed its
        stream before asking to stop) is read to the end of its stream however long its
        records take to handle: what it wrote is finite and owed. A process still alive is
        read until it has been idle for ``linger`` seconds, or until the deadline; then it
        is cut off and what it left unread is counted. Idleness is measured from when its
        last data was *handled*, and only once no stream has anything to read, so a round of
        slow handlers never passes for silence.
        """
        assert self._deadline is not None
        while True:
            self._accept()
            live = [p for p in self._open_workers() if not self._ended(p)]
            now = time.monotonic()
            if live and now >= self._deadline:
                for peer in live:
                    self._cut_off(peer)
                continue
            if self._round(0.0):
                continue
            if not live:
                return
            idle = now - max(peer.last_data for peer in live)
            wait = min(self._linger - idle, self._deadline - now)
            if wait <= 0:
                return
            self._round(wait)

    def _open_workers(self) -> list[Peer]:
        return [peer for peer in self._peers.values() if peer is not self._control]

    def _ended(self, peer: Peer) -> bool:
        """Whether ``peer`` will write nothing more: only its stream's contents remain."""
        control = self._control
        main = control is not None and (peer.pid, peer.interpreter, peer.host) == (
            control.pid,
            control.interpreter,
            control.host,
        )
        return peer.said_bye or peer.exited or main

    def _cut_off(
        self, peer: Peer, unhandled: Sequence[_protocol.Frame | _protocol.LineRun] = ()
    ) -> None:
        """Close a process's stream at stop, counting what it leaves unread: what is still in
        the stream and the ``unhandled`` items already read from it."""
        peer.count_unread(unhandled)
        self._close(peer, ended="cut off by stop()")

    def _overdue(self, peer: Peer) -> bool:
        """Between two items of a read: check in with the supervisor if a second has passed
        (slow handlers make long rounds), and say whether stop()'s deadline has passed for
        ``peer``, a process still alive that must be cut off now."""
        now = time.monotonic()
        if now >= self._next_check_in:
            self._check_in()
        deadline = self._deadline
        return deadline is not None and now >= deadline and not self._ended(peer)

    def _check_in(self) -> None:
        """Serve a request the supervisor sent during a long round (a stop sets the deadline,
        a stats request is answered), and while draining tell it that records are still
        being handled, so that it keeps waiting rather than declaring the listener stuck."""
        self._next_check_in = time.monotonic() + CHECK_IN
        control = self._control
        if control is None or control.sock not in self._peers:  # gone: nobody to serve
            return
        if select.select([control.sock], [], [], 0)[0]:
            self._read(control)
        if self._deadline is not None and control.sock in self._peers:
            control.send_quietly(_protocol.frame(_protocol.KIND_PROGRESS, b""))

    def _begin_stop(self, timeout: float) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + timeout
