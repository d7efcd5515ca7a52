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
    ListenerLoop: accept -> read -> FrameReader -> runs of lines, decoded records -> Writer
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

import functools
import hmac
import logging
import select
import selectors
import socket
import ssl
import time
from collections import Counter
from typing import Any

from mplog import _frames, _protocol
from mplog._listener import untrusted
from mplog._listener.acks import Acks
from mplog._listener.deaths import Deaths
from mplog._listener.gate import Gate
from mplog._listener.peers import Peer, totals
from mplog._listener.stopping import Stopping
from mplog._listener.welcome import Welcome
from mplog._listener.writing import Writer
from mplog._outputs.router import Router

_RECV_SIZE = 1 << 18
#: After a round that brought less than this, the loop pauses for _PAUSE before the next
#: one: every round costs the same fixed work (select, reads, one write per destination),
#: so fewer, fuller rounds cost less per record (0.73 -> 0.49 µs, measured with 1 vs 5 ms).
#: At 200,000 records/s a pause lets ~120 KB pile up, far below a pipe's 1 MiB.
_SMALL_ROUND = 1 << 16
_PAUSE = 0.005


class ListenerLoop:
    """Accept connections on ``server`` and hand every record to ``router``.

    ``server`` is the local socket (None: only ``gate``'s network socket, for
    ``address=(host, port)``); ``gate`` admits network senders that prove the key.

    Runs until the controller sends STOP (or its connection ends), then its
    :class:`Stopping` drains (every record of a process that has ended is handled; processes
    still alive are read until idle for ``linger`` seconds or until the stop deadline, then
    cut off with what they left unread counted). Then it closes the handlers and replies with
    stats. ``peers``, ``control``, ``accept``, ``serve``, ``read`` and ``close`` are public
    for the stop (``stopping.Served``).
    """

    def __init__(
        self,
        server: socket.socket | None,
        token: str,
        router: Router,
        *,
        linger: float = 0.2,
        gate: Gate | None = None,
        welcome: Welcome | None = None,
    ) -> None:
        self._server = server
        self._gate = gate
        if gate is not None and welcome is None:  # network senders then send records
            welcome = Welcome(router, None)
        self._welcome = welcome
        self._token = token
        self._router = router
        self._writer = Writer(router, welcome)
        self._report = self._writer.report
        self._selector = selectors.DefaultSelector()
        self.peers: dict[socket.socket, Peer] = {}
        self.control: Peer | None = None
        self._stop = Stopping(self, linger)
        self._round_bytes = 0
        self._counts: Counter[str] = Counter()
        self._levels: dict[str, int] = {}
        self._workers: list[Peer] = []
        self._acks = Acks()
        self._deaths = Deaths(self._selector, self._report, local=server is not None)
        if gate is not None:
            gate.report = functools.partial(self._report, logging.WARNING)

    def run(self) -> None:
        """Serve until stopped, drain, then close the handlers and reply (always)."""
        for server, data in ((self._server, None), (self._gate, self._gate)):
            sock = server.server if isinstance(server, Gate) else server
            if sock is not None:
                sock.setblocking(False)
                self._selector.register(sock, selectors.EVENT_READ, data)
        try:
            while self._stop.deadline is None:
                self.serve(self._timeout())
                if 0 < self._round_bytes < _SMALL_ROUND and self._stop.deadline is None:
                    self._pause()
            self._stop.drain()
        finally:
            self._shutdown()

    def serve(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for events and handle them; return how many came."""
        self._round_bytes = 0
        events = self._selector.select(timeout)
        self._stop.checked_in()
        for key, _ in events:
            if key.data is None:
                self.accept()
            elif isinstance(key.data, Peer):
                self.read(key.data)
            elif isinstance(key.data, Gate):
                self.accept(key.data)
            else:
                self._deaths.exited(key.data)
        self._deaths.settle()
        self._acks.send_due()
        if self._gate is not None:
            for peer in self._gate.overdue():
                self.close(peer, ended="cut off: no valid hello in time")
            for peer in self._gate.stalled(self.peers.values()):
                self.close(peer, ended="cut off: stalled in the middle of a frame")
        return len(events)

    def _pause(self) -> None:
        """Let records pile up in the kernel for _PAUSE; a request from the supervisor (a
        stop, a level change) ends the pause at once, and so does a network connection or
        hello (a network sender waits for its challenge and its welcome)."""
        control = self.control
        wake = [] if control is None else [control.sock]
        if self._gate is not None:
            wake += self._gate.handshaking()
        if wake:
            select.select(wake, [], [], _PAUSE)
        else:
            time.sleep(_PAUSE)

    def _timeout(self) -> float:
        dues = [self._deaths.next_due(), self._acks.next_due()]
        dues.append(None if self._gate is None else self._gate.next_due())
        due = min((d for d in dues if d is not None), default=None)
        return 1.0 if due is None else max(0.0, min(1.0, due - time.monotonic()))

    def accept(self, gate: Gate | None = None) -> None:
        """Take every pending connection of the local socket (or of ``gate``'s)."""
        server = self._server if gate is None else gate.server
        while server is not None:
            try:
                sock, _ = server.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            peer = Peer(sock) if gate is None else gate.admit(sock)
            if peer is None:
                continue
            self.peers[peer.sock] = peer  # with TLS, not the accepted socket: its wrapper
            self._selector.register(peer.sock, selectors.EVENT_READ, peer)

    def read(self, peer: Peer) -> None:
        if peer.tls_pending:
            assert self._gate is not None
            done = self._gate.shake(peer)
            if done is False:
                self.close(peer, ended="cut off: its TLS handshake failed")
            if not done:
                return
        try:
            data = peer.receive(_RECV_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(peer)
            return
        self._round_bytes += len(data)
        try:
            items = peer.reader.feed_runs(data, records=peer.remote is None)
        except _protocol.FrameTooLarge as exc:  # only network readers have a limit
            assert self._gate is not None
            self._gate.cut_off(peer, "oversized", str(exc))
            self.close(peer, ended="cut off: a frame over the size limit")
            return
        if self._handle(peer, items):
            peer.last_data = time.monotonic()  # after handling: slow handlers are not silence
            self._acks.handled(peer, len(data))

    def _handle(self, peer: Peer, items: list[_frames.Item]) -> bool:
        """Handle what one read brought; False if ``peer`` was cut off meanwhile."""
        for index, numbered in enumerate(items):
            item = numbered if peer.sid is None else self._acks.fresh(peer, numbered)
            if item is None:  # sent again after a reconnect, and already written
                continue
            # A hello is a frame of its own: handled before the lines or records that follow it.
            if isinstance(item, list) and peer.pid is not None:  # a local process's records
                taken = self._writer.records(peer, item, self._stop.overdue)
                if taken < len(item):
                    self._stop.cut_off(peer, [item[taken:], *items[index + 1 :]])
                    return False
            elif isinstance(item, _frames.LineRun) and peer.pid is not None and peer.lines:
                why = self._writer.lines(peer, item)
                if why is not None:
                    self._reject(peer, why)
                    self.close(peer, ended=f"cut off: {why}")
                    return False
            elif not self._accepted(peer, item):
                self.close(peer, ended="cut off: it sent a frame the listener does not accept")
                return False
            if peer is not self.control and self._stop.overdue(peer):
                self._stop.cut_off(peer, items[index + 1 :])
                return False
        return True

    def _accepted(self, peer: Peer, item: _frames.Item) -> bool:
        """Handle one frame; False if the peer must be cut off (bad token, bad data, lines
        or records before its hello)."""
        if not isinstance(item, tuple):  # a run of records: from a local process only
            self._reject(peer, "finished lines this listener did not ask for")
            return False
        kind, body = item
        try:
            return self._on_frame(peer, kind, body)
        except Exception as exc:  # from the network: whatever it is, cut that sender off
            if peer.remote is not None:
                oversized = isinstance(exc, _protocol.FrameTooLarge)
                self._reject(peer, str(exc), "oversized" if oversized else "malformed")
                return False
            if not isinstance(exc, (ValueError, EOFError, TypeError, KeyError)):
                raise
            self._writer.undecodable(peer, [exc], closed=True)
            return False

    def _reject(self, peer: Peer, why: str, reason: str = "malformed") -> None:
        """Count a frame the listener does not accept (for a network sender, say why)."""
        if self._gate is not None and peer.remote is not None:
            self._gate.cut_off(peer, reason, why)
        else:
            self._counts["rejected"] += 1

    def _on_frame(self, peer: Peer, kind: int, body: bytes) -> bool:
        decode = _protocol.decode if peer.remote is None else untrusted.decode
        if peer.remote is not None:  # a frame complete in one read escaped the reader's check
            limit = untrusted.MAX_HELLO if peer.pid is None else peer.reader.max_frame
            untrusted.check_size(body, limit)
        if kind == _protocol.KIND_RECORD and peer.pid is not None:
            self._writer.record(peer, untrusted.record_fields(body))  # local ones: in runs
        elif kind == _protocol.KIND_HELLO and peer.pid is None:
            return self._on_hello(peer, decode(body))
        elif kind == _protocol.KIND_PIPE:
            return peer.attach_pipe(self._selector)
        elif kind == _protocol.KIND_DROPPED and peer.pid is not None:
            self._report(logging.WARNING, peer.count_dropped(decode(body)["counts"]), origin=peer)
        elif kind == _protocol.KIND_BYE:
            peer.said_bye = True
        elif kind == _protocol.KIND_EXITING and peer.pid is not None:
            notice = decode(body)
            self._deaths.expect(list(notice["pids"]), str(notice["why"]))
        elif kind == _protocol.KIND_LEVELS and peer is self.control:
            self._push_levels(_protocol.decode(body)["levels"])
            peer.reply(self.stats())
        elif kind == _protocol.KIND_STATS and peer is self.control:
            peer.reply(self.stats())
        elif kind == _protocol.KIND_REOPEN and peer is self.control:
            self._router.reopen()
            peer.reply(self.stats())
        elif kind == _protocol.KIND_STOP and peer is self.control:
            self._stop.begin(float(_protocol.decode(body).get("timeout", 10.0)))
        else:
            self._reject(peer, f"a frame of kind {kind} in this state")
            return False
        return True

    def _on_hello(self, peer: Peer, hello: dict[str, Any]) -> bool:
        if peer.remote is not None:
            assert self._gate is not None and self._welcome is not None
            if not self._gate.verify(peer, hello):
                return False
            self._welcome.greet(peer, hello)
        elif not hmac.compare_digest(str(hello.get("token", "")), self._token):
            self._counts["rejected"] += 1
            return False
        peer.pid = int(hello["pid"])
        peer.host = str(hello.get("host", ""))
        peer.interpreter = int(hello.get("interp", 0))
        peer.name = str(hello.get("name", "?"))
        peer.role = str(hello.get("role", "worker"))
        if peer.role == "control":
            self.control = peer
        else:
            self._workers.append(peer)
            earlier = self._acks.hello(peer, hello) if peer.remote is not None else None
            if earlier is not None:  # the same process, reconnected: one entry in stats()
                peer.take_counts(earlier)
                self._workers.remove(earlier)
            if peer.remote is None:
                self._deaths.watch(peer)
            if self._levels:
                peer.send_quietly(_protocol.levels_frame(self._levels.items()))
        return True

    def _push_levels(self, levels: list[tuple[str, int]]) -> None:
        """Remember level changes (for processes yet to connect) and send them to all."""
        self._levels.update((str(name), int(level)) for name, level in levels)
        frame = _protocol.levels_frame(levels)
        for peer in self.peers.values():
            if peer.role == "worker":
                peer.send_quietly(frame)

    def close(self, peer: Peer, *, ended: str | None = None) -> None:
        """Stop reading ``peer``. Without ``ended`` its stream has reached its end: the
        process closed it, or died (a partial record then is a torn one)."""
        self._acks.confirm(peer)
        if ended is None and peer.reader.pending and peer.pid is not None:
            self._counts["torn_frames"] += 1
            self._report(
                logging.WARNING,
                f"process {peer.pid} ({peer.name}) ended in the middle of a record; "
                f"{peer.reader.pending} bytes of it were discarded",
            )
        peer.release(self._selector)
        del self.peers[peer.sock]
        if self._gate is not None:
            self._gate.closed(peer)
        if peer is self.control:
            # The supervisor went away without asking: drain what is there and stop.
            self._stop.begin(5.0)
            return
        peer.sock.close()
        if ended is not None:
            peer.ended = ended
        elif peer.pid is None or peer.said_bye:
            peer.ended = "closed"
        else:
            if peer.sid is not None:  # it reconnects and sends again what was not acknowledged
                peer.ended = f"disconnected: its connection from {peer.remote} ended"
                return
            if peer.remote is not None:  # its exit cannot be seen from here
                peer.exit_status = f"its connection from {peer.remote} ended"
            self._deaths.ended_without_goodbye(peer)

    def stats(self) -> dict[str, Any]:
        """Counts so far: totals, and per process (by pid) what it sent and what became of it."""
        return totals(
            self._workers,
            handler_errors=self._router.errors,
            torn_frames=self._counts["torn_frames"],
            rejected=self._counts["rejected"] + self._writer.rejected,
            backlog_bytes=sum(p.backlog() for p in self.peers.values()),
            **(
                {}
                if self._gate is None
                else {"network": dict(self._gate.counts), **self._acks.counts}
            ),
        )

    def _shutdown(self) -> None:
        for peer in self._stop.open_workers():
            self._stop.cut_off(peer)
        self._deaths.settle(everything=True)
        self._deaths.close()
        self._selector.close()
        if self._server is not None:
            self._server.close()
        if self._gate is not None:
            self._gate.close()
        self._router.close()
        control = self.control
        if control is not None:
            control.reply(self.stats())  # nobody reads it if the supervisor is gone; that is fine
            control.sock.close()
