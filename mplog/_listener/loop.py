"""The listener loop: drain every process's connection into the real handlers.

Data flow::

    main process                 pool workers / children (fork, spawn, forkserver)
    ------------                 --------------------------------------------------
    logger.info(...)             logger.info(...)
       |                            |
    ShippingHandler              ShippingHandler       one per process, installed by
       | encode + write()           | encode + write() configure_worker (or inherited
       |  (own pipe)                |  (own pipe)      at fork and reconnected)
       v                            v
    +---------------------------------------------------------------+
    |  kernel pipe buffers: one bounded stream per process          |
    |  (no lock shared between processes; a dead writer tears only  |
    |   its own stream; what it wrote before dying stays readable)  |
    +---------------------------------------------------------------+
       |        the pipe's read end reached the listener over the process's
       |        socket connection (SCM_RIGHTS); over TCP the socket is the stream
       v  selectors loop (a thread in main, or a listener process)
    ListenerLoop: accept -> read -> FrameReader -> runs of lines, decoded records -> Router
       |
       v
    Router -> the real handlers (file, console, dictConfig routes), written by this one loop only

    Supervisor (Listener in main) --control connection--> STOP --> drain --> REPLY(stats)

Why a stream per process and not a ``multiprocessing.Queue``: the queue's writers share one
lock, and a writer killed while holding it wedges every other writer (and the feeder thread
buffers records in the worker, where they die with it). A stream per process has no shared
state; backpressure is the kernel's bounded buffer; the end of a stream is how the listener
learns a writer is gone.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import select
import selectors
import socket
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mplog import _protocol
from mplog._listener.deaths import Deaths
from mplog._listener.peers import Peer, totals
from mplog._outputs.router import Router
from mplog._worker.context import stamp

_RECV_SIZE = 1 << 18
#: After a round that brought less than this, the loop pauses for _PAUSE before the next
#: one: every round costs the same fixed work (select, reads, one write per destination),
#: so fewer, fuller rounds cost less per record (0.73 -> 0.49 µs, measured with 1 vs 5 ms).
#: At 200,000 records/s a pause lets ~120 KB pile up, far below a pipe's 1 MiB.
_SMALL_ROUND = 1 << 16
_PAUSE = 0.005
#: In a long round (slow handlers), how often the loop serves the supervisor's requests.
_CHECK_IN = 0.2


class ListenerLoop:
    """Accept connections on ``server`` and hand every record to ``router``.

    Runs until the controller sends STOP (or its connection ends), then drains (see
    :meth:`_drain`: every record of a process that has ended is handled; processes still
    alive are read until idle for ``linger`` seconds or until the stop deadline, then cut
    off with what they left unread counted). Then it closes the handlers and replies with
    stats.
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
        self._next_check_in = 0.0
        self._round_bytes = 0
        self._counts: Counter[str] = Counter()
        self._levels: dict[str, int] = {}
        self._workers: list[Peer] = []
        self._deaths = Deaths(self._selector, self._report, local=server.family == socket.AF_UNIX)

    def run(self) -> None:
        """Serve until stopped, drain, then close the handlers and reply (always)."""
        self._server.setblocking(False)
        self._selector.register(self._server, selectors.EVENT_READ, None)
        try:
            while self._deadline is None:
                self._round(self._timeout())
                if 0 < self._round_bytes < _SMALL_ROUND and self._deadline is None:
                    self._pause()
            self._drain()
        finally:
            self._shutdown()

    def _round(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for events and handle them; return how many came."""
        self._round_bytes = 0
        events = self._selector.select(timeout)
        self._next_check_in = time.monotonic() + _CHECK_IN
        for key, _ in events:
            if key.data is None:
                self._accept()
            elif isinstance(key.data, Peer):
                self._read(key.data)
            else:
                self._deaths.exited(key.data)
        self._deaths.settle()
        return len(events)

    def _pause(self) -> None:
        """Let records pile up in the kernel for _PAUSE; a request from the supervisor (a
        stop, a level change) ends the pause at once."""
        control = self._control
        if control is None:
            time.sleep(_PAUSE)
        else:
            select.select([control.sock], [], [], _PAUSE)

    def _timeout(self) -> float:
        due = self._deaths.next_due()
        return 1.0 if due is None else max(0.0, min(1.0, due - time.monotonic()))

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
        main = control is not None and (peer.pid, peer.interpreter) == (
            control.pid,
            control.interpreter,
        )
        return peer.said_bye or peer.exited or main

    def _cut_off(
        self, peer: Peer, unhandled: Sequence[_protocol.Frame | _protocol.LineRun] = ()
    ) -> None:
        """Close a process's stream at stop, counting what it leaves unread: what is still in
        the stream and the ``unhandled`` items already read from it."""
        peer.count_unread(unhandled)
        self._close(peer, ended="cut off by stop()")

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
            data = peer.receive(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(peer)
            return
        self._round_bytes += len(data)
        items = peer.reader.feed_runs(data)
        for index, item in enumerate(items):
            # A hello is a frame of its own: it is handled before the lines that follow it.
            if isinstance(item, _protocol.LineRun) and peer.pid is not None:
                self._on_lines(peer, item)
            elif not self._accepted(peer, item):
                self._close(peer, ended="cut off: it sent a frame the listener does not accept")
                return
            if peer is not self._control and self._overdue(peer):
                self._cut_off(peer, items[index + 1 :])
                return
        peer.last_data = time.monotonic()  # after handling: slow handlers are not silence

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
        self._next_check_in = time.monotonic() + _CHECK_IN
        control = self._control
        if control is None or control.sock not in self._peers:  # gone: nobody to serve
            return
        if select.select([control.sock], [], [], 0)[0]:
            self._read(control)
        if self._deadline is not None and control.sock in self._peers:
            control.send_quietly(_protocol.frame(_protocol.KIND_PROGRESS, b""))

    def _on_lines(self, peer: Peer, run: _protocol.LineRun) -> None:
        peer.count_lines(run, written=self._router.write_lines(run))

    def _accepted(self, peer: Peer, item: _protocol.Frame | _protocol.LineRun) -> bool:
        """Handle one frame; False if the peer must be cut off (bad token, bad data, lines
        before its hello)."""
        if isinstance(item, _protocol.LineRun):
            self._counts["rejected"] += 1
            return False
        kind, body = item
        try:
            return self._on_frame(peer, kind, body)
        except (ValueError, EOFError, TypeError, KeyError) as exc:
            self._counts["rejected"] += 1
            self._report(
                logging.ERROR,
                f"process {peer.pid} ({peer.name}) sent a frame that cannot be decoded "
                f"({type(exc).__name__}: {exc}); its connection was closed",
            )
            return False

    def _on_frame(self, peer: Peer, kind: int, body: bytes) -> bool:
        if kind == _protocol.KIND_RECORD and peer.pid is not None:
            self._on_record(peer, _protocol.decode(body))
        elif kind == _protocol.KIND_HELLO and peer.pid is None:
            return self._on_hello(peer, _protocol.decode(body))
        elif kind == _protocol.KIND_PIPE:
            return peer.attach_pipe(self._selector)
        elif kind == _protocol.KIND_DROPPED and peer.pid is not None:
            self._on_dropped(peer, _protocol.decode(body)["counts"])
        elif kind == _protocol.KIND_BYE:
            peer.said_bye = True
        elif kind == _protocol.KIND_EXITING and peer.pid is not None:
            notice = _protocol.decode(body)
            self._deaths.expect(list(notice["pids"]), str(notice["why"]))
        elif kind == _protocol.KIND_LEVELS and peer is self._control:
            self._push_levels(_protocol.decode(body)["levels"])
            self._reply(peer)
        elif kind == _protocol.KIND_STATS and peer is self._control:
            self._reply(peer)
        elif kind == _protocol.KIND_STOP and peer is self._control:
            self._begin_stop(float(_protocol.decode(body).get("timeout", 10.0)))
        else:
            self._counts["rejected"] += 1
            return False
        return True

    def _on_hello(self, peer: Peer, hello: dict[str, Any]) -> bool:
        if not hmac.compare_digest(str(hello.get("token", "")), self._token):
            self._counts["rejected"] += 1
            return False
        peer.pid = int(hello["pid"])
        peer.interpreter = int(hello.get("interp", 0))
        peer.name = str(hello.get("name", "?"))
        peer.role = str(hello.get("role", "worker"))
        if peer.role == "control":
            self._control = peer
        else:
            self._workers.append(peer)
            self._deaths.watch(peer)
            if self._levels:
                peer.send_quietly(_protocol.levels_frame(self._levels.items()))
        return True

    def _push_levels(self, levels: list[tuple[str, int]]) -> None:
        """Remember level changes (for processes yet to connect) and send them to all."""
        self._levels.update((str(name), int(level)) for name, level in levels)
        frame = _protocol.levels_frame(levels)
        for peer in self._peers.values():
            if peer.role == "worker":
                peer.send_quietly(frame)

    def _on_record(self, peer: Peer, fields: dict[str, Any]) -> None:
        record = _protocol.make_record(fields)
        peer.received += 1
        peer.levels[record.levelname] += 1
        if self._router.handle(record):
            peer.written += 1

    def _begin_stop(self, timeout: float) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + timeout

    def _close(self, peer: Peer, *, ended: str | None = None) -> None:
        """Stop reading ``peer``. Without ``ended`` its stream has reached its end: the
        process closed it, or died (a partial record then is a torn one)."""
        if ended is None and peer.reader.pending and peer.pid is not None:
            self._counts["torn_frames"] += 1
            self._report(
                logging.WARNING,
                f"process {peer.pid} ({peer.name}) ended in the middle of a record; "
                f"{peer.reader.pending} bytes of it were discarded",
            )
        peer.release(self._selector)
        del self._peers[peer.sock]
        if peer is self._control:
            # The supervisor went away without asking: drain what is there and stop.
            self._begin_stop(5.0)
            return
        peer.sock.close()
        if ended is not None:
            peer.ended = ended
        elif peer.pid is None or peer.said_bye:
            peer.ended = "closed"
        else:
            self._deaths.ended_without_goodbye(peer)

    def _on_dropped(self, peer: Peer, counts: dict[str, int]) -> None:
        """Count what a process dropped, and say so in the log on its behalf."""
        counts = {str(level): int(n) for level, n in counts.items()}
        peer.dropped.update(counts)
        text = ", ".join(f"{n} {level}" for level, n in sorted(counts.items()))
        message = f"dropped {text} records from pid {peer.pid}: the listener's backlog was full"
        self._report(logging.WARNING, message, origin=peer)

    def _report(self, level: int, message: str, *, origin: Peer | None = None) -> None:
        """Log a record of the listener's own through the same handlers (as coming from
        ``origin``'s process when given)."""
        record = logging.LogRecord("mplog", level, __file__, 0, message, None, None)
        if origin is not None:
            record.process, record.processName = origin.pid, origin.name
        stamp(record)  # formats may name %(task_id)s and the like
        self._router.handle(record)

    def stats(self) -> dict[str, Any]:
        """Counts so far: totals, and per process (by pid) what it sent and what became of it."""
        return totals(
            self._workers,
            handler_errors=self._router.errors,
            torn_frames=self._counts["torn_frames"],
            rejected=self._counts["rejected"],
            backlog_bytes=sum(p.backlog() for p in self._peers.values()),
        )

    def _reply(self, control: Peer) -> None:
        with contextlib.suppress(OSError):
            control.sock.settimeout(5.0)
            control.sock.sendall(
                _protocol.frame(_protocol.KIND_REPLY, _protocol.encode(self.stats()))
            )
            control.sock.setblocking(False)

    def _shutdown(self) -> None:
        for peer in self._open_workers():
            self._cut_off(peer)
        self._deaths.settle(everything=True)
        self._deaths.close()
        self._selector.close()
        self._server.close()
        self._router.close()
        control = self._control
        if control is not None:
            self._reply(control)  # nobody reads it if the supervisor is gone; that is fine
            control.sock.close()
