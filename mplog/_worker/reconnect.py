"""A network sender's connection that survives outages: spool, acknowledgements, reconnects.

::

    logging call -> ResilientStream.send: the frame joins the Spool (bounded by spool_bytes),
       |            then goes out on the socket if there is one (else it waits in the spool)
       v
    socket  <- the listener's ACK frames (the last frame it has written) and level changes,
               read by this stream's thread, which drops acknowledged frames from the spool
    the connection ends (listener restarted, network cut, a send fails): the same thread
    reconnects with jittered exponential backoff; its hello carries this process's identity
    (``sid``) and the sequence number of the oldest frame in the spool, which it sends again,
    in order, before any new frame; the listener skips the frames it has already written.
    The handler follows the listener's welcome (``welcome``: its line format or plan) from
    its next record on (``welcomed``); the hello names the plan the spooled frames were
    formatted with (``formatted``): a listener with other handlers takes them as records.

A logging call never waits for the network beyond ``block_timeout``: while the connection is
down it only adds to the spool; when the spool is full, ``on_full`` decides (drop and count,
or wait for room up to ``block_timeout`` and then give up to stderr). What is still in the
spool when the process ends (after a short grace for the last acknowledgements) is written to
stderr, never dropped silently. Fork: the child drops its parent's stream and spool without a
word (those records are the parent's) and opens its own at its first record.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mplog import _frames, _protocol
from mplog._frozen import replace
from mplog._lineplan import DESTS_FIELD, MORE, digest, from_data
from mplog._plaindata import welcome
from mplog._settings import MAX_FRAME, WorkerConfig
from mplog._worker.connection import (
    NETWORK_FRAME,
    SEND_FLAGS,
    FramedLines,
    HandshakeRefused,
    _check_size,
    connect,
)
from mplog._worker.context import HOSTNAME
from mplog._worker.cork import AVAILABLE as CORK_AVAILABLE
from mplog._worker.cork import Corker
from mplog._worker.levels import apply_pushed, start_thread
from mplog._worker.spool import FileSpool, Spool

#: The first wait before reconnecting, and the longest (each failed attempt doubles it; the
#: wait actually taken is a random 50-100% of it, so senders cut off together spread out).
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 5.0
#: While the process ends (``close`` waits for the listener), the longest wait between two
#: attempts: a sender that ends during an outage must not sleep through its grace.
BACKOFF_CLOSING = 0.1
#: At the process's end, how long it waits for the listener to acknowledge what is spooled
#: (reconnecting if it must), before writing the rest to stderr.
EXIT_GRACE = 5.0


class ResilientStream(FramedLines):
    """Where a network sender writes its frames (see the module's docstring)."""

    def __init__(
        self,
        opener: Callable[..., socket.socket],
        spool: Spool,
        sid: str,
        *,
        block_timeout: float | None,
        live_levels: bool,
        where: str,
    ) -> None:
        self._opener = opener
        self._spool = spool
        self._block_timeout = block_timeout
        self._live_levels = live_levels
        self._where = where
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # room in the spool, or the end
        self._wake = threading.Event()  # ends a backoff wait early (at close)
        self._attempted = threading.Event()  # the first connection attempt is over
        self._sock: socket.socket | None = None
        self._corker = Corker(lambda: self._sock)  # flushes the socket when it is corked
        self._finished = False
        self._closing = False  # close() waits for the listener: reconnect without delay
        self._ever_connected = False
        #: Why the listener refused this process for good (a wrong key), or None.
        self.refused: str | None = None
        self._down: str | None = None  # why the connection is down (said once per outage)
        self.sid = sid
        #: The body of the listener's last welcome (its line plan), None before the first.
        self.welcome: bytes | None = None
        #: The fingerprint (``_lineplan.digest``) of what the spooled frames were formatted
        #: with, named in the hello after a reconnect (None: records).
        self.formatted: str | None = None

    # -- the logging call's side -----------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Spool ``data`` and send it; when the spool is full, wait for room up to
        ``block_timeout`` (then BlockingIOError)."""
        if len(data) > NETWORK_FRAME:
            _check_size(data)  # raises, naming the limit
        with self._lock:
            if not self._spool.push(data):
                self._wait_for_room(len(data))
                self._spool.add(data)
            sock = self._sock
            if sock is not None:
                try:
                    sock.sendall(data, SEND_FLAGS)  # SO_SNDTIMEO bounds the wait
                except OSError as exc:
                    self._broken(sock, exc)
                if self._corker.corked:
                    self._corker.written()

    def send_if_room(self, data: bytes) -> bool:
        """Spool and send ``data`` if the spool and (when connected) the socket have room
        for it; never leave half a frame."""
        _check_size(data)
        with self._lock:
            if not self._spool.has_room(len(data)):
                return False
            sock = self._sock
            if sock is not None:
                try:
                    written = sock.send(data, SEND_FLAGS | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return False
                except OSError as exc:  # it stays in the spool and goes out after a reconnect
                    self._broken(sock, exc)
                    written = len(data)
                if written < len(data):
                    try:
                        sock.sendall(data[written:], SEND_FLAGS)
                    except OSError as exc:  # half a frame went out: the connection is done
                        self._broken(sock, exc)
                if self._corker.corked:
                    self._corker.written()
            self._spool.add(data)
            return True

    def _wait_for_room(self, size: int) -> None:
        def room() -> bool:
            return self._spool.has_room(size) or self._finished

        if not self._changed.wait_for(room, self._block_timeout):
            raise BlockingIOError(
                f"the listener acknowledged nothing for {self._block_timeout}s and the spool "
                f"({self._spool.limit} bytes) is full"
            )

    def _broken(self, sock: socket.socket, exc: OSError) -> None:
        """A send failed: the connection is unusable (perhaps half a frame went out). Wake
        the thread, which closes it and reconnects; the frame is sent again from the spool."""
        self._sock = None
        self._say_down(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    # -- the connection thread ---------------------------------------------------------------

    def start(self, close: Callable[[], object], wait: float | None) -> None:
        """Start the connection thread and wait up to ``wait`` s for its first attempt.
        HandshakeRefused if the listener refused the key; OSError if no thread can start."""
        if not start_thread(self._run, "mplog-connection", close):
            raise OSError("this interpreter is ending: no connection thread can start")
        if CORK_AVAILABLE and not self._corker.start():
            raise OSError("this interpreter is ending: no flusher thread can start")
        self._attempted.wait(wait)
        if self.refused is not None:
            raise HandshakeRefused(self.refused)

    def _run(self) -> None:
        delay = BACKOFF_FIRST
        while not self._finished and self.refused is None:
            sock = self._reconnect()
            if sock is None:
                self._wake.wait(delay * random.uniform(0.5, 1.0))
                if not self._finished:  # set by close(): one attempt now, then no long waits
                    self._wake.clear()
                delay = min(delay * 2, BACKOFF_CLOSING if self._closing else BACKOFF_MAX)
                continue
            delay = BACKOFF_FIRST
            self._follow(sock)
            with self._lock:
                if self._sock is sock:
                    self._sock = None
                    self._say_down("the listener closed the connection")
            sock.close()

    def _reconnect(self) -> socket.socket | None:
        """Connect, and send the spool again; the new socket, or None (it says why once)."""
        try:
            resume: dict[str, Any] = {"sid": self.sid, "seq": self._spool.first}
            resume["spool"] = self._spool.limit  # acknowledged before half of it is used
            if self.formatted is not None:
                resume["plan"] = self.formatted
            sock = self._opener(resume=resume, welcomed=self._welcomed)
            self._corker.cork(sock)
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            with self._lock:
                if isinstance(exc, HandshakeRefused) and not self._ever_connected:
                    self.refused = reason
                    self._changed.notify_all()
                else:
                    self._say_down(reason)
            self._attempted.set()
            return None
        resent = self._resend(sock)
        self._attempted.set()
        if resent is None:
            sock.close()
            return None
        if resent:
            sys.stderr.write(
                f"mplog: process {os.getpid()} reconnected to the log listener at "
                f"{self._where}; its spool ({resent} frames) went first.\n"
            )
        return sock

    def _welcomed(self, body: bytes) -> None:
        self.welcome = body

    def _resend(self, sock: socket.socket) -> int | None:
        """Send the spool on ``sock``, then make it the stream's socket; how many frames it
        sent (None: it failed). Sent outside the lock, so logging calls keep spooling
        meanwhile (no acknowledgement is read until the end: the spool only grows)."""
        sent = 0
        while True:
            with self._lock:
                pending = None if self._finished else self._spool.frames()[sent:]
                if pending == []:
                    self._sock, self._down, self._ever_connected = sock, None, True
                    if sent and self._corker.corked:
                        self._corker.written()
                    return sent
            try:
                if pending is None:
                    raise OSError("closing")
                for frame in pending:
                    sock.sendall(frame, SEND_FLAGS)
            except OSError:
                return None
            sent += len(pending)

    def _follow(self, sock: socket.socket) -> None:
        """Read the listener's acknowledgements (and level changes) until the connection ends."""
        reader = _frames.FrameReader(MAX_FRAME)
        while True:
            try:
                data = sock.recv(1 << 16)
                frames = reader.feed(data) if data else None
            except (OSError, ValueError):
                return
            if frames is None:
                return
            for kind, body in frames:
                if kind == _protocol.KIND_ACK and len(body) == _protocol.ACK.size:
                    with self._lock:
                        self._spool.acknowledge(_protocol.ACK.unpack(body)[0])
                        self._changed.notify_all()
                elif kind == _protocol.KIND_LEVELS and self._live_levels:
                    with contextlib.suppress(Exception):  # a bad frame costs only itself
                        apply_pushed(body)

    def _say_down(self, reason: str) -> None:
        """Say once per outage (on stderr) that the connection is down and why."""
        if self._down is None and not self._finished:
            self._down = reason
            sys.stderr.write(
                f"mplog: process {os.getpid()} cannot reach the log listener at {self._where} "
                f"({reason}); keeping its records (up to {self._spool.limit} bytes) and "
                "reconnecting.\n"
            )

    # -- the end -----------------------------------------------------------------------------

    def close(self, *, ours: bool = True, grace: float = EXIT_GRACE) -> list[bytes]:
        """Wait up to ``grace`` s (at most ``block_timeout``) for the listener to acknowledge
        the spool, then end the connection; return the frames it never acknowledged (the
        caller says what; a file spool keeps them); ``ours=False``: only drop them (a fork)."""
        if not ours:
            self._finished = True
            if self._sock is not None:
                self._sock.close()
            return self._spool.release(ours=False)
        if self._block_timeout is not None:
            grace = min(grace, self._block_timeout)
        self._corker.flush()  # the goodbye goes now: the listener acknowledges it at once
        self._closing = True
        self._wake.set()  # a connection thread waiting to reconnect tries now
        deadline = time.monotonic() + grace
        with self._lock:
            while self._spool and self.refused is None and not self._finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            self._finished = True
            unacknowledged = self._spool.release()
            sock, self._sock = self._sock, None
            self._changed.notify_all()
        self._wake.set()
        self._corker.stop()
        if sock is not None:  # wakes the thread, which closes it
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return unacknowledged


def undelivered(entries: list[bytes]) -> list[str | dict[str, Any]]:
    """The records in a spool's unacknowledged ``entries``, once each, in order: a finished
    line (of a record's lines for several handlers, the first), or a record's fields (unless
    its lines already stood for it)."""
    found: list[str | dict[str, Any]] = []
    reader = _frames.FrameReader()
    for entry in entries:
        for item in reader.feed_runs(entry):
            if isinstance(item, _frames.LineRun):
                dests = item.dests or [0] * len(item.lines)
                found += [
                    bytes(line).decode("utf-8", "replace")
                    for line, dest in zip(item.lines, dests, strict=True)
                    if dest < MORE
                ]
            elif item[0] == _protocol.KIND_RECORD:
                fields = _protocol.decode(item[1])
                if not (fields.pop(DESTS_FIELD, None) or [0])[0]:
                    found.append(fields)
    return found


def welcomed(stream: ResilientStream, config: WorkerConfig, body: bytes) -> WorkerConfig:
    """``config`` with the line format or plan of the listener's welcome ``body`` (read as
    plain data only: ``mplog._plaindata.welcome``), which ``stream``'s frames are formatted
    with from now on; an empty welcome means records. A welcome that cannot be read is said
    on stderr, and the process sends records."""
    try:
        line_format, data = welcome(body)
        plan = None if data is None else from_data(data)
    except (ValueError, TypeError) as exc:
        sys.stderr.write(
            f"mplog: process {os.getpid()} cannot follow the log listener's line plan ({exc}); "
            "it sends records instead.\n"
        )
        line_format, plan = None, None
    stream.formatted = digest(line_format, plan)
    return replace(config, line_format=line_format, plan=plan)


def open_resilient(config: WorkerConfig, close: Callable[[], object]) -> ResilientStream:
    """A network sender's stream to the listener of ``config``, its thread started and its
    first connection attempted (up to ``block_timeout``); HandshakeRefused for a wrong key.
    ``close`` ends the connection where the thread cannot be a daemon (a subinterpreter)."""
    shipping = config.shipping
    opener: Callable[..., Any] = functools.partial(
        connect,
        config.address,
        config.token,
        "worker",
        block_timeout=shipping.block_timeout,
        buffer_bytes=shipping.buffer_bytes,
        key=config.key,
        tls=config.tls,
    )
    assert isinstance(config.address, tuple)
    host, port = config.address
    sid = f"{HOSTNAME}:{os.getpid()}:{secrets.token_hex(8)}"
    limit = shipping.spool_bytes
    directory = shipping.spool_dir
    spool = Spool(limit) if directory is None else FileSpool(limit, os.fspath(directory), sid)
    stream = ResilientStream(
        opener,
        spool,
        sid,
        block_timeout=shipping.block_timeout,
        live_levels=shipping.live_levels,
        where=f"{host}:{port}",
    )
    stream.formatted = digest(config.line_format, config.plan)
    try:
        stream.start(close, shipping.block_timeout)
    except BaseException:
        spool.release()  # a file spool keeps what it took over from others
        raise
    return stream
