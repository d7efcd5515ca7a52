"""The listener's view of one connected process: its stream, its counts, how it ended.

Listener side only. A peer's stream is its socket until it passes a pipe (``KIND_PIPE``);
either way what the process wrote stays readable after it is gone, which is what lets
``stop()`` drain a process that has exited, and count exactly what it leaves unread when it
must cut off one that is still logging.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import selectors
import socket
import ssl
import struct
import termios
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mplog import _frames, _protocol
from mplog._lineplan import MORE
from mplog._settings import MIN_SPOOL
from mplog._worker.context import HOSTNAME


def unread_bytes(stream: socket.socket | int) -> int:
    """Bytes waiting to be read from a socket or a pipe (0 if that cannot be known)."""
    try:
        return struct.unpack("i", fcntl.ioctl(stream, termios.FIONREAD, b"\0\0\0\0"))[0]  # type: ignore[no-any-return]
    except OSError:
        return 0


@dataclass(eq=False)
class Peer:
    """One connected process, as the listener sees it (equal only to itself)."""

    sock: socket.socket
    reader: _frames.FrameReader = field(default_factory=_frames.FrameReader)
    pid: int | None = None
    #: The process's (sub)interpreter: 0 for its main interpreter. The interpreters of an
    #: ``InterpreterPoolExecutor`` share their process's pid, and each has its own stream.
    interpreter: int = 0
    name: str = "?"
    role: str = ""
    #: The process's host name, from its hello.
    host: str = ""
    #: For a network connection, the address it came from (None: a local one).
    remote: str | None = None
    #: The random challenge a network connection must answer in its hello.
    challenge: bytes = b""
    #: Its TLS handshake is not done yet (the challenge is sent when it is).
    tls_pending: bool = False
    #: Whether it may send finished lines, appended as they are (a network sender only once
    #: it proved the key and was sent the line plan in its welcome).
    lines: bool = True
    #: A network sender whose spool may hold lines formatted for another line plan (its
    #: hello named one: this listener before a restart with other handlers): lines that do
    #: not fit this plan are written as records, not a reason to cut it off.
    stale: bool = False
    #: Lines of a stale sender written as records.
    stale_lines: int = 0
    #: A network sender's identity (from its hello), under which the listener remembers
    #: which of its frames it has written, and the sequence number of its next frame.
    sid: str | None = None
    seq: int = 0
    #: The last sequence number acknowledged to it; bytes handled since, and how many may
    #: wait before it is acknowledged at once (half its spool: its hello says the size);
    #: when an acknowledgement is due at the latest (monotonic).
    acked: int = 0
    unacked_bytes: int = 0
    ack_bytes: int = MIN_SPOOL // 2
    ack_due: float = 0.0
    received: int = 0
    written: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    said_bye: bool = False
    #: The process is known to have exited (its pidfd fired, or it was gone at its hello):
    #: nothing more will be written, so at stop its stream is read to the end.
    exited: bool = False
    #: When the last data from this process was handled (monotonic): a process that is
    #: still alive counts as idle at stop only once this is ``linger`` seconds old.
    last_data: float = 0.0
    #: The read end of the pipe this process writes its frames into (None: its socket).
    pipe: int | None = None
    passed_fds: list[int] = field(default_factory=list)
    exit_status: str | None = None
    ended: str | None = None
    #: Whole records (and bytes, a partial record included) left unread when stop() cut
    #: this process off.
    unread_records: int = 0
    unread_bytes: int = 0

    @property
    def stream(self) -> socket.socket | int:
        """What the listener reads this process's frames from."""
        return self.sock if self.pipe is None else self.pipe

    def backlog(self) -> int:
        """Bytes written by this process and not yet handled."""
        return unread_bytes(self.stream) + self.reader.pending

    def count_unread(self, unhandled: Sequence[_frames.Item] = ()) -> None:
        """Count what this process wrote that will not be handled: the ``unhandled`` items
        already read, and what is left in the stream (read now, without handling it).

        Only what is there now: a process still writing cannot keep this going. A partial
        record at the end counts in the bytes, not the records: its logging call has not
        returned, and the process sends it to stderr when it finds the stream closed.
        """
        size = unread_bytes(self.stream)
        data = b""
        while len(data) < size:
            try:
                chunk = _receive_plain(self.stream, size - len(data))
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        pending = self.reader.pending
        items = [*unhandled, *self.reader.feed_runs(data)]
        self.unread_records = sum(_records_in(item) for item in items)
        nul = int(self.reader.plain)  # the NUL before each frame on a pipe
        self.unread_bytes = sum(_bytes_in(item, nul) for item in unhandled) + pending + len(data)

    def receive(self, size: int) -> bytes:
        """Read up to ``size`` bytes of this process's stream (a Unix socket may carry the
        pipe's read end with them)."""
        if self.pipe is not None:
            return os.read(self.pipe, size)
        if isinstance(self.sock, ssl.SSLSocket):
            return _receive_tls(self.sock, size)
        if self.sock.family != socket.AF_UNIX:
            return self.sock.recv(size)
        data, fds, _, _ = socket.recv_fds(self.sock, size, 1)
        self.passed_fds += fds
        return data

    def attach_pipe(self, selector: selectors.BaseSelector) -> bool:
        """Read this process's frames from the pipe it passed, instead of its socket."""
        if self.pid is None or self.pipe is not None or not self.passed_fds:
            return False
        self.pipe = self.passed_fds.pop(0)
        self.reader.plain = True  # a process writes plain lines into its pipe
        os.set_blocking(self.pipe, False)
        selector.unregister(self.sock)
        selector.register(self.pipe, selectors.EVENT_READ, self)
        return True

    def release(self, selector: selectors.BaseSelector) -> None:
        """Stop watching this process's stream; close its pipe and any passed descriptor
        (the socket stays open: the caller decides)."""
        if self.pipe is not None:
            selector.unregister(self.pipe)
            os.close(self.pipe)
            self.pipe = None
        else:
            selector.unregister(self.sock)
        for fd in self.passed_fds:
            os.close(fd)
        self.passed_fds.clear()

    def count_lines(self, run: _frames.LineRun, *, written: bool) -> None:
        """Count a run of lines received (per level) and, if ``written``, written."""
        levels, count = run.levels, run.records
        if count is None and run.dests is not None:  # a record's later lines (MORE) count once
            levels = [lv for lv, dest in zip(levels, run.dests, strict=True) if dest < MORE]
        if count is None:
            count = len(levels)
        self.received += count
        if run.plain or count == 1:  # one level for all its lines: no Counter
            self.levels[_level_name(levels[0])] += count
        else:
            for levelno, n in Counter(levels).items():
                self.levels[_level_name(levelno)] += n
        if written:
            self.written += count

    def count_dropped(self, counts: dict[str, int]) -> str:
        """Count what this process dropped; return the line that says so in the log."""
        counts = {str(level): int(n) for level, n in counts.items()}
        self.dropped.update(counts)
        text = ", ".join(f"{n} {level}" for level, n in sorted(counts.items()))
        return f"dropped {text} records from pid {self.pid}: the listener's backlog was full"

    def take_counts(self, earlier: Peer) -> None:
        """Carry on the counts of ``earlier``, this process's previous connection."""
        self.received += earlier.received
        self.written += earlier.written
        self.levels.update(earlier.levels)
        self.dropped.update(earlier.dropped)

    def send_quietly(self, data: bytes) -> None:
        """Send a few bytes on the socket, which the process only reads from: room is all
        but certain, and a process that cannot take them keeps its current levels."""
        with contextlib.suppress(OSError):
            self.sock.send(data)

    def reply(self, stats: dict[str, Any]) -> None:
        """Send the supervisor (this peer) the listener's ``stats`` (it waits for them)."""
        with contextlib.suppress(OSError):
            self.sock.settimeout(5.0)
            self.sock.sendall(_protocol.frame(_protocol.KIND_REPLY, _protocol.encode(stats)))
            self.sock.setblocking(False)

    def summary(self) -> dict[str, Any]:
        """This process's counts, as reported by ``Listener.stats()``."""
        return {
            "name": self.name,
            "host": self.host,
            "received": self.received,
            "written": self.written,
            "levels": dict(self.levels),
            "dropped": dict(self.dropped),
            "unread_records": self.unread_records,
            "unread_bytes": self.unread_bytes,
            "state": "connected" if self.ended is None else self.ended,
        }


@functools.lru_cache(maxsize=64)
def _level_name(levelno: int) -> str:
    return logging.getLevelName(levelno)


def totals(workers: Sequence[Peer], **listener_counts: Any) -> dict[str, Any]:
    """``Listener.stats()``: the listener's own counts, sums over ``workers`` and, per
    process (by pid) and per subinterpreter (by ``(pid, interpreter id)``), what it sent and
    what became of it."""
    processes = {_key(p): p.summary() for p in workers if not p.interpreter}
    interpreters = {(p.pid or 0, p.interpreter): p.summary() for p in workers if p.interpreter}
    return {
        "received": sum(p.received for p in workers),
        "written": sum(p.written for p in workers),
        "dropped": sum(sum(p.dropped.values()) for p in workers),
        **listener_counts,
        "unread_records": sum(p.unread_records for p in workers),
        "unread_bytes": sum(p.unread_bytes for p in workers),
        "workers_seen": len(processes) + len(interpreters),
        "workers_dead": sum(1 for p in workers if (p.ended or "").startswith("died")),
        "processes": processes,
        "interpreters": interpreters,
    }


def _key(peer: Peer) -> int | str:
    """A process's key in ``stats()["processes"]``: its pid, or for a process of another
    host (whose pid may equal a local one), ``"host:pid"``."""
    return peer.pid or 0 if peer.host in ("", HOSTNAME) else f"{peer.host}:{peer.pid}"


def _receive_tls(sock: ssl.SSLSocket, size: int) -> bytes:
    """Read what has arrived, up to about ``size`` bytes: until the kernel has no more, and
    past ``size`` while TLS holds decrypted bytes (select cannot see those: left there, they
    would wait for the next packet). BlockingIOError when there is nothing yet."""
    data = bytearray()
    while len(data) < size or sock.pending():
        try:
            chunk = sock.recv(max(size - len(data), sock.pending(), 1))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        if not chunk:  # the end: handed over on the next read, after what came before it
            if data:
                break
            return b""
        data += chunk
    if not data:
        raise BlockingIOError("no TLS data yet")
    return bytes(data)


def _receive_plain(stream: socket.socket | int, size: int) -> bytes:
    if isinstance(stream, int):
        return os.read(stream, size)
    return stream.recv(size)


def _bytes_in(item: _frames.Item, nul: int) -> int:
    """The bytes ``item`` took on its stream (``nul``: 1 where a NUL precedes each frame; the
    level and output frames between plain lines are not counted)."""
    if isinstance(item, list):  # a run of record frames: their bodies
        return sum(map(len, item)) + len(item) * (nul + _protocol.HEADER.size)
    if isinstance(item, _frames.LineRun):
        header = _protocol.LINE_HEADER_SIZE + (0 if item.dests is None else _protocol.DEST_SIZE)
        headers = 0 if item.plain else (len(item.lines) - item.bare) * (header + nul)
        return sum(len(line) for line in item.lines) + headers
    return nul + _protocol.HEADER.size + len(item[1])


def _records_in(item: _frames.Item) -> int:
    if isinstance(item, list):  # a run of record frames
        return len(item)
    if isinstance(item, _frames.LineRun):
        return item.count()
    return 1 if item[0] == _protocol.KIND_RECORD else 0
