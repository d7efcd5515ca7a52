"""A process's connection to the listener: opening it, introducing the process, sending.

One connection per process, opened by the process itself (never inherited across fork). On a
Unix socket the records then travel through a pipe whose read end the process hands to the
listener with its introduction (``SCM_RIGHTS``): a small write into a pipe costs a quarter of
a socket send and a tenth on the reading side (measured: 0.25 vs 0.94 us to write, 0.07 vs
0.87 us of kernel time to read, per 120-byte record), because a pipe appends to a page where a
socket allocates a buffer per send. What was written stays readable after the writer dies;
the pipe's size bounds what is unread. Over TCP the socket itself carries the records.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import struct
import sys

from mplog import _compat, _protocol
from mplog._settings import MAX_FRAME, Address
from mplog._worker.context import HOSTNAME

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from mplog._tls import Tls
    from mplog._worker.reconnect import ResilientStream

#: No SIGPIPE if the listener is gone, even where a program restored its default action.
SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)
#: How long a network connection waits for each step of the listener's handshake, when the
#: process sets no ``block_timeout`` (the listener answers between two rounds of records).
HANDSHAKE_TIMEOUT = 60.0
#: The largest frame the listener takes over the network (header included).
NETWORK_FRAME = _protocol.HEADER.size + MAX_FRAME
#: The largest welcome a sender reads (the listener's line plan).
MAX_WELCOME = 1 << 20


class HandshakeRefused(ConnectionRefusedError):
    """The listener closed the connection during its handshake: a wrong key, or its limits."""


def process_name() -> str:
    """This process's name, also under the ``multiprocess`` package; in a subinterpreter,
    followed by ``/interp-<id>`` ("MainProcess/interp-3").

    ``LogRecord.processName`` only asks the standard library's ``multiprocessing``, which calls
    every child of a ``multiprocess`` pool "MainProcess".
    """
    name = "MainProcess"
    for module_name in ("multiprocessing", "multiprocess"):
        module = sys.modules.get(module_name)
        if module is not None:
            current: str = module.current_process().name
            if current != "MainProcess":
                name = current
                break
    interpreter = _compat.interpreter_id()
    return f"{name}/interp-{interpreter}" if interpreter else name


def connect(
    address: Address,
    token: str,
    role: str,
    *,
    block_timeout: float | None = None,
    buffer_bytes: int | None = None,
    key: bytes | None = None,
    tls: Tls | None = None,
    pipe: int | None = None,
    resume: dict[str, Any] | None = None,
    welcomed: Callable[[bytes], object] | None = None,
) -> socket.socket:
    """Open a connection to the listener and introduce this process on it.

    On a Unix socket (in a private directory) the hello carries the listener's token, and
    ``pipe`` (a read end) goes along with it, in the same message: the process waits for no
    answer, and the listener wakes once for both (on a loaded machine each wake-up of the
    listener can preempt the starting process). Over TCP the listener first sends a random
    challenge, and the hello carries the proof that this process holds ``key`` (by default
    the token): HMAC-SHA256 of the challenge; neither the key nor the token travels.
    ``block_timeout`` becomes the kernel's send timeout (``SO_SNDTIMEO``): a blocking send
    that makes no progress for that long fails, at no cost to sends that don't wait, and
    bounds the TCP connect. With ``tls``, a TCP connection is wrapped in TLS first
    (``mplog._worker.tls``, imported only then: ``ssl`` costs a spawned worker several
    milliseconds). ``resume`` (a network sender's identity and the sequence number of its
    next frame) is added to the hello. ``welcomed`` is given the body of the listener's
    welcome (its line plan, as data: ``mplog._plaindata.welcome``).
    """
    target: Any = address
    family: int = socket.AF_UNIX
    if isinstance(address, tuple):
        family, _, _, _, target = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if buffer_bytes is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        if block_timeout is not None:
            seconds = int(block_timeout)
            micros = int((block_timeout - seconds) * 1e6)
            timeval = struct.pack("ll", seconds, micros)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        if family != socket.AF_UNIX:  # each record leaves at once, not after an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family != socket.AF_UNIX:  # an unreachable host must not hold the caller for minutes
            sock.settimeout(block_timeout or HANDSHAKE_TIMEOUT)
        sock.connect(target)
        sock.settimeout(None)
        if tls is not None and isinstance(address, tuple):
            from mplog._worker import tls as _tls  # ssl only where TLS is used

            sock = _tls.wrap(
                sock,
                tls,
                address[0],
                handshake_timeout=block_timeout or HANDSHAKE_TIMEOUT,
                send_timeout=block_timeout,
            )
        hello: dict[str, Any] = {
            "pid": os.getpid(),
            "interp": _compat.interpreter_id(),
            "name": process_name(),
            "role": role,
            "host": HOSTNAME,
            **(resume or {}),
        }
        if family == socket.AF_UNIX:
            hello["token"] = token
            _send_hello(sock, _protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)), pipe)
        else:
            challenge = _read_frame(sock, _protocol.KIND_CHALLENGE, block_timeout)
            hello["auth"] = _protocol.answer(key or token.encode(), challenge)
            sock.sendall(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)), SEND_FLAGS)
            try:
                body = _read_frame(sock, _protocol.KIND_WELCOME, block_timeout, MAX_WELCOME)
            except ConnectionRefusedError as exc:  # it read the hello and said no
                raise HandshakeRefused(str(exc)) from None
            if welcomed is not None:
                welcomed(body)
    except BaseException as exc:
        sock.close()
        if tls is not None and type(exc).__module__ == "ssl":  # TLS said no: not an outage
            raise HandshakeRefused(f"TLS: {exc}") from exc
        raise
    return sock


def _send_hello(sock: socket.socket, hello: bytes, pipe: int | None) -> None:
    """Send the hello on a Unix socket, with ``pipe`` passed (``SCM_RIGHTS``) in one message."""
    if pipe is None:
        sock.sendall(hello, SEND_FLAGS)
        return
    data = hello + _protocol.frame(_protocol.KIND_PIPE, b"")
    sent = socket.send_fds(sock, [data], [pipe], SEND_FLAGS)
    if sent < len(data):  # the descriptor went with the first bytes
        sock.sendall(data[sent:], SEND_FLAGS)


def _read_frame(sock: socket.socket, kind: int, timeout: float | None, limit: int = 1024) -> bytes:
    """Read exactly one frame of ``kind`` (at most ``limit`` bytes) from the listener (its
    challenge, or its welcome), and nothing after it: what follows belongs to the level
    reader."""
    sock.settimeout(timeout or HANDSHAKE_TIMEOUT)
    try:
        header = _receive_exactly(sock, _protocol.HEADER.size)
        length, got = _protocol.HEADER.unpack(header)
        if got != kind or length > limit:
            raise ConnectionError(f"the listener sent frame kind {got} where {kind} was due")
        return _receive_exactly(sock, length)
    finally:
        sock.settimeout(None)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionRefusedError(
                "the listener closed the connection during the handshake: a wrong key, or "
                "over its connection limit (see its log)"
            )
        data += chunk
    return data


_F_SETPIPE_SZ = 1031  # Linux fcntl; elsewhere the pipe keeps its default size
_PIPE_BYTES = 1 << 20


class Stream:
    """Where a process writes its frames: a pipe (Unix socket listeners) or the socket (TCP).

    The socket stays open both ways: it carries the listener's level changes back, and its
    end wakes the reader thread that follows them.
    """

    #: A local stream has no welcome: the line plan came with the ``WorkerConfig``.
    welcome: bytes | None = None

    def __init__(self, sock: socket.socket, pipe: int | None, block_timeout: float | None):
        self.sock = sock
        self._pipe = pipe
        self._timeout_ms = None if block_timeout is None else int(block_timeout * 1000)
        #: The level of the plain lines last written into the pipe (None: not known there, or
        #: they were for an output of the line plan).
        self._level: int | None = None
        #: The level and the plan output of those lines, when for an output (None: not).
        self._dest_level: int | None = None
        self._output: int | None = None

    def send(self, data: bytes) -> None:
        """Write the frame ``data`` whole, waiting for room; BlockingIOError after
        ``block_timeout``."""
        if self._pipe is None:
            _check_size(data)
            self.sock.sendall(data, SEND_FLAGS)  # SO_SNDTIMEO bounds the wait
        else:
            self._put(_protocol.nul_framed(data), wait=True)  # a NUL before each frame

    def send_if_room(self, data: bytes) -> bool:
        """Write the frame ``data`` if the stream has room for its start; never leave half
        a frame. False if there was none (nothing written)."""
        if self._pipe is not None:
            return self._put(_protocol.nul_framed(data), wait=False)
        try:
            _check_size(data)
            written = self.sock.send(data, SEND_FLAGS | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        if written < len(data):
            self.send(data[written:])
        return True

    def send_line(self, levelno: int, line: str, *, wait: bool = True) -> bool:
        """Write one finished line: into a pipe as a plain line (after a ``KIND_LEVEL`` frame
        when its level is not the last line's; see ``mplog._frames``), else, or when it
        holds a newline or a NUL, in a ``KIND_LINE`` frame. Unless ``wait``, only if the
        stream has room: False if it had none (nothing written)."""
        if self._pipe is None or "\n" in line or "\0" in line:
            return send_line_frame(self, levelno, line, wait=wait)
        data = (line + "\n").encode("utf-8", "backslashreplace")
        if levelno != self._level:
            data = b"\0" + _protocol.level_frame(levelno) + data
            self._level, self._output = levelno, None  # a level frame clears the output
        return self._put(data, wait=wait)

    def send_shipment(self, shipment: _protocol.Shipment, *, wait: bool = True) -> bool:
        """Write what a record became under the line plan (``_protocol.Shipment``) in one
        write. Into a pipe, a record of one line that ends with its only newline and holds
        no NUL goes as a plain line (after a ``KIND_DEST`` frame when its level or output is
        not the last line's; see ``mplog._frames``); any other in frames, each after a NUL.
        Unless ``wait``, only if the stream has room: False if it had none (nothing
        written)."""
        # Plain on a pipe: listener CPU per record json 0.81, 0.88 -> 0.42, 0.45 µs, handlers
        # 0.63, 0.65 -> 0.17, 0.17, dictconfig 0.63, 0.63 -> 0.17, 0.22, rotating 0.64, 0.64
        # -> 0.32, 0.33 (benchmarks.listener_cpu --reps 5, medians, two runs each alternating
        # with the frames before); this process the same (plan and stream to the write: json
        # 4.43, 4.39 -> 4.26, 4.24; handlers 2.38, 2.39 -> 2.39, 2.33). A record of more
        # (lines for other outputs, a record frame) goes framed whole: with its first line
        # plain the listener spent more, not less (two outputs: 1.39-1.56 -> 1.64-2.11 µs).
        # The shipment whole, not unpacked into the call (f(*s, wait=w): +0.11 µs), and two
        # finds (``b"\0" in line`` takes twice as long): 0.15 µs for a 135-byte line.
        levelno, output, line, more = shipment
        if self._pipe is None:
            return send_shipment_framed(self, shipment, wait=wait)
        if more or not (line.find(b"\n") + 1 == len(line) > 0 and line.find(b"\0") < 0):
            return self._put(_protocol.shipment_frames(shipment, b"\0"), wait=wait)
        if output != self._output or levelno != self._dest_level:
            line = b"\0" + _protocol.dest_frame(levelno, output) + line
            self._dest_level, self._output, self._level = levelno, output, None
        return self._put(line, wait=wait)

    def _put(self, data: bytes, *, wait: bool) -> bool:
        """Write ``data`` into the pipe: all of it, waiting for room; or, unless ``wait``,
        only if there is room for its start (False if not: nothing written)."""
        assert self._pipe is not None
        try:
            written = os.write(self._pipe, data)
        except BlockingIOError:
            if not wait:
                self._level = self._output = None  # a level frame may have been refused
                return False
            written = 0
        if written < len(data):
            self._send_rest(memoryview(data)[written:])
        return True

    def _send_rest(self, view: memoryview) -> None:
        assert self._pipe is not None
        poller = select.poll()
        poller.register(self._pipe, select.POLLOUT)
        while view:
            if not poller.poll(self._timeout_ms):
                raise BlockingIOError("the listener took nothing from the pipe in time")
            try:
                view = view[os.write(self._pipe, view) :]
            except BlockingIOError:
                continue

    def close(self, *, ours: bool = True) -> None:
        """Close the stream; ``ours=False`` in a forked child, whose copies must only be
        dropped (a shutdown would end the parent's connection too)."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if ours:  # wakes the level reader thread
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def send_frame(stream: Stream | ResilientStream, data: bytes, *, wait: bool) -> bool:
    """Write the frame ``data``: waiting for room, or (unless ``wait``) only if there is
    room; False if there was none (nothing written)."""
    if wait:
        stream.send(data)
        return True
    return stream.send_if_room(data)


def send_line_frame(
    stream: Stream | ResilientStream, levelno: int, line: str, *, wait: bool = True
) -> bool:
    """``send_line`` of a stream that carries frames only: a ``KIND_LINE`` frame."""
    return send_frame(stream, _protocol.line_frame(levelno, line), wait=wait)


def send_shipment_framed(
    stream: Stream | ResilientStream, shipment: _protocol.Shipment, *, wait: bool = True
) -> bool:
    """``send_shipment`` of a stream that carries frames only: the first line in a
    ``KIND_DEST_LINE`` frame (none for ``_protocol.NO_LINE``), then the frames after it."""
    return send_frame(stream, _protocol.shipment_frames(shipment), wait=wait)


class FramedLines:
    """What a stream that carries frames only (a network sender's) does with finished
    lines: it frames them."""

    send_line = send_line_frame
    send_shipment = send_shipment_framed


def _check_size(data: bytes) -> None:
    """Over TCP, refuse a frame the listener would refuse (and cut the connection for)."""
    if len(data) > NETWORK_FRAME:
        raise _protocol.FrameTooLarge(
            f"a record of {len(data)} bytes, over the network limit of {MAX_FRAME}"
        )


def open_stream(
    address: Address,
    token: str,
    *,
    block_timeout: float | None,
    buffer_bytes: int | None,
    key: bytes | None = None,
    tls: Tls | None = None,
) -> Stream:
    """Connect as a logging process and open the stream its frames go into: on a Unix
    socket a pipe, whose read end travels with the hello."""
    options: dict[str, Any] = {"block_timeout": block_timeout, "buffer_bytes": buffer_bytes}
    if isinstance(address, tuple):
        sock = connect(address, token, "worker", key=key, tls=tls, **options)
        return Stream(sock, None, block_timeout)
    reader, writer = os.pipe()
    try:
        with contextlib.suppress(OSError):  # too large for this system: keep the default
            fcntl.fcntl(writer, _F_SETPIPE_SZ, buffer_bytes or _PIPE_BYTES)
        os.set_blocking(writer, False)
        sock = connect(address, token, "worker", key=key, pipe=reader, **options)
    except BaseException:
        os.close(writer)
        raise
    finally:
        os.close(reader)
    return Stream(sock, writer, block_timeout)
