"""The listener loop: drain every process's connection into the real handlers.

Data flow::

    main process                 pool workers / children (fork, spawn, forkserver)
    ------------                 --------------------------------------------------
    logger.info(...)             logger.info(...)
       |                            |
    ShippingHandler              ShippingHandler       one per process, installed by
       | encode + send()            | encode + send()  configure_worker (or inherited
       |  (own socket)              |  (own socket)    at fork and reconnected)
       v                            v
    +---------------------------------------------------------------+
    |  kernel socket buffers: one bounded stream per process        |
    |  (no lock shared between processes; a dead writer tears only  |
    |   its own stream; what it wrote before dying stays readable)  |
    +---------------------------------------------------------------+
       |
       v  selectors loop (a thread in main, or a listener process)
    ListenerLoop: accept -> recv -> FrameReader -> decode -> Router
       |
       v
    Router -> the real handlers (file, console, dictConfig routes), written by this one loop only

    Supervisor (Listener in main) --control connection--> STOP --> drain --> REPLY(stats)

Why sockets and not a ``multiprocessing.Queue``: the queue's writers share one lock, and a writer
killed while holding it wedges every other writer (and the feeder thread buffers records in
the worker, where they die with it). A stream per process has no shared state; backpressure
is the kernel's bounded buffer; the end of a stream is how the listener learns a writer is gone.
"""

from __future__ import annotations

import hmac
import logging
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mplog import _wire
from mplog._routing import Router

_RECV_SIZE = 1 << 18


@dataclass
class Peer:
    """One connected process, as the listener sees it."""

    sock: socket.socket
    reader: _wire.FrameReader = field(default_factory=_wire.FrameReader)
    pid: int | None = None
    name: str = "?"
    role: str = ""
    received: int = 0
    levels: Counter[str] = field(default_factory=Counter)


class ListenerLoop:
    """Accept connections on ``server`` and hand every record to ``router``.

    Runs until the controller sends STOP (or its connection ends), then drains: it keeps
    accepting and reading until every stream has ended, no data has arrived for ``linger``
    seconds, or the stop deadline passes. Then it closes the handlers and replies with stats.
    """

    def __init__(
        self, server: socket.socket, token: str, router: Router, *, linger: float = 0.2
    ) -> None:
        self._server = server
        self._token = token
        self._router = router
        self._linger = linger
        self._selector = selectors.DefaultSelector()
        self._peers: dict[socket.socket, Peer] = {}
        self._control: Peer | None = None
        self._deadline: float | None = None
        self._last_data = time.monotonic()
        self._stats: dict[str, Any] = {"received": 0, "torn_frames": 0, "rejected": 0}
        self._workers: list[Peer] = []

    def run(self) -> None:
        """Serve until stopped and drained; always closes the handlers and replies."""
        self._server.setblocking(False)
        self._selector.register(self._server, selectors.EVENT_READ, None)
        try:
            while not self._finished():
                for key, _ in self._selector.select(self._timeout()):
                    if key.data is None:
                        self._accept()
                    else:
                        self._read(key.data)
        finally:
            self._shutdown()

    def _timeout(self) -> float:
        if self._deadline is None:
            return 1.0
        return max(0.0, min(self._linger, self._deadline - time.monotonic()))

    def _finished(self) -> bool:
        if self._deadline is None:
            return False
        self._accept()
        now = time.monotonic()
        if now >= self._deadline:
            return True
        if not any(peer is not self._control for peer in self._peers.values()):
            return True
        return now - self._last_data >= self._linger

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            peer = Peer(sock)
            self._peers[sock] = peer
            self._selector.register(sock, selectors.EVENT_READ, peer)

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(peer)
            return
        self._last_data = time.monotonic()
        for kind, body in peer.reader.feed(data):
            if not self._on_frame(peer, kind, body):
                self._close(peer)
                return

    def _on_frame(self, peer: Peer, kind: int, body: bytes) -> bool:
        if kind == _wire.KIND_RECORD and peer.pid is not None:
            self._on_record(peer, _wire.decode(body))
        elif kind == _wire.KIND_HELLO and peer.pid is None:
            return self._on_hello(peer, _wire.decode(body))
        elif kind == _wire.KIND_STOP and peer is self._control:
            self._begin_stop(float(_wire.decode(body).get("timeout", 10.0)))
        else:
            self._stats["rejected"] += 1
            return False
        return True

    def _on_hello(self, peer: Peer, hello: dict[str, Any]) -> bool:
        if not hmac.compare_digest(str(hello.get("token", "")), self._token):
            self._stats["rejected"] += 1
            return False
        peer.pid = int(hello["pid"])
        peer.name = str(hello.get("name", "?"))
        peer.role = str(hello.get("role", "worker"))
        if peer.role == "control":
            self._control = peer
        else:
            self._workers.append(peer)
        return True

    def _on_record(self, peer: Peer, fields: dict[str, Any]) -> None:
        record = _wire.make_record(fields)
        peer.received += 1
        peer.levels[record.levelname] += 1
        self._stats["received"] += 1
        self._router.handle(record)

    def _begin_stop(self, timeout: float) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + timeout

    def _close(self, peer: Peer) -> None:
        if peer.reader.pending:
            self._stats["torn_frames"] += 1
            self._report(
                logging.WARNING,
                f"process {peer.pid} ({peer.name}) ended in the middle of a record; "
                f"{peer.reader.pending} bytes of it were discarded",
            )
        self._selector.unregister(peer.sock)
        del self._peers[peer.sock]
        if peer is self._control:
            # The supervisor went away without asking: drain what is there and stop.
            self._begin_stop(5.0)
        else:
            peer.sock.close()

    def _report(self, level: int, message: str) -> None:
        """Log a record of the listener's own through the same handlers."""
        record = logging.LogRecord("mplog", level, __file__, 0, message, None, None)
        self._router.handle(record)

    def stats(self) -> dict[str, Any]:
        """Counts so far: totals, and per process (pid) its name and records by level."""
        processes: dict[int, dict[str, Any]] = {}
        for peer in self._workers:
            entry = processes.setdefault(peer.pid or 0, {"name": peer.name, "received": 0})
            entry["received"] += peer.received
            levels = entry.setdefault("levels", {})
            for level, count in peer.levels.items():
                levels[level] = levels.get(level, 0) + count
        return {**self._stats, "processes": processes}

    def _shutdown(self) -> None:
        for peer in list(self._peers.values()):
            if peer is not self._control:
                self._close(peer)
        self._selector.close()
        self._server.close()
        self._router.close()
        control = self._control
        if control is not None and control.sock.fileno() != -1:
            try:
                control.sock.setblocking(True)
                control.sock.sendall(_wire.frame(_wire.KIND_REPLY, _wire.encode(self.stats())))
            except OSError:
                pass  # the supervisor is gone; nobody is waiting for the stats
            control.sock.close()
