"""A sender's TLS connection: the socket a logging call and the level reader share safely.

Worker side. OpenSSL forbids using one connection from two threads at once, and a sender has
two: the logging calls write records, the level reader (``mplog._worker.levels``) waits for
level changes. :class:`TlsSocket` takes a lock around every TLS read and write, and the reader
waits for data with ``select`` outside it, so a logging call never waits for the reader.
Sends keep the ``block_timeout`` bound (a TimeoutError there becomes the BlockingIOError the
handler expects from a stuck listener). Flags such as ``MSG_NOSIGNAL`` cannot be given to a
TLS send; Python ignores SIGPIPE unless a program restores it.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from typing import Any

from mplog._tls import Tls


class TlsSocket(ssl.SSLSocket):
    """An SSLSocket whose reads and writes never overlap (see the module's docstring)."""

    _ready = False
    _lock: threading.RLock
    #: How long a read waits for data (``settimeout`` sets it once ready; sends keep theirs).
    _read_wait: float | None = None

    def settimeout(self, value: float | None) -> None:
        if self._ready:
            self._read_wait = value
        else:
            super().settimeout(value)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if not self._ready:
            return super().recv(buflen, flags)
        while True:
            if not self.pending() and not self._wait_readable():
                raise TimeoutError("timed out waiting for the listener")
            with self._lock:
                try:
                    return super().recv(buflen, flags)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                except ValueError as exc:  # closed by another thread meanwhile
                    raise OSError(f"the connection is closed: {exc}") from exc

    def _wait_readable(self) -> bool:
        try:
            return bool(select.select([self], [], [], self._read_wait)[0])
        except ValueError as exc:  # closed (no file descriptor any more)
            raise OSError(f"the connection is closed: {exc}") from exc

    def sendall(self, data: Any, flags: int = 0) -> None:
        if not self._ready:
            super().sendall(data)
            return
        with self._lock:
            try:
                super().sendall(data)
            except TimeoutError as exc:
                raise BlockingIOError(f"the listener took nothing in time: {exc}") from exc

    def send(self, data: Any, flags: int = 0) -> int:
        """Send ``data`` (TLS writes all of it); with ``MSG_DONTWAIT``, BlockingIOError
        unless there is room for its start (TLS cannot take back half a record)."""
        if not self._ready:
            return super().send(data)
        if flags & getattr(socket, "MSG_DONTWAIT", 0) and not select.select([], [self], [], 0)[1]:
            raise BlockingIOError("no room in the connection")
        with self._lock:
            try:
                return super().send(data)
            except TimeoutError as exc:
                raise BlockingIOError(f"the listener took nothing in time: {exc}") from exc

    def shutdown(self, how: int) -> None:
        if not self._ready:
            super().shutdown(how)
            return
        with self._lock:
            super().shutdown(how)


def wrap(
    sock: socket.socket,
    tls: Tls,
    host: str,
    *,
    handshake_timeout: float,
    send_timeout: float | None,
) -> socket.socket:
    """``sock`` (connected to ``host``) wrapped in TLS, its handshake done within
    ``handshake_timeout`` seconds; its sends then wait at most ``send_timeout``."""
    context = tls.make_context(server=False)
    create = TlsSocket._create  # type: ignore[attr-defined]  # what wrap_socket calls
    wrapped: TlsSocket = create(
        sock, server_hostname=host, context=context, do_handshake_on_connect=False
    )
    try:
        wrapped.settimeout(handshake_timeout)
        wrapped.do_handshake()
        wrapped.settimeout(send_timeout)
    except BaseException:
        wrapped.close()
        raise
    wrapped._lock = threading.RLock()  # sendall calls send
    wrapped._ready = True
    return wrapped
