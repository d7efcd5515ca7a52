"""A process's connection to the listener: opening it, introducing the process, sending.

One connection per process, opened by the process itself (never inherited across fork).
"""

from __future__ import annotations

import os
import socket
import struct
import sys

from mplog import _wire

Address = str | tuple[str, int]
#: No SIGPIPE if the listener is gone, even where a program restored its default action.
SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


def process_name() -> str:
    """This process's name, also under the ``multiprocess`` package.

    ``LogRecord.processName`` only asks the standard library's ``multiprocessing``, which calls
    every child of a ``multiprocess`` pool "MainProcess".
    """
    name = "MainProcess"
    for module_name in ("multiprocessing", "multiprocess"):
        module = sys.modules.get(module_name)
        if module is not None:
            current: str = module.current_process().name
            if current != "MainProcess":
                return current
    return name


def connect(
    address: Address,
    token: str,
    role: str,
    *,
    block_timeout: float | None = None,
    buffer_bytes: int | None = None,
) -> socket.socket:
    """Open a connection to the listener and introduce this process on it.

    ``block_timeout`` becomes the kernel's send timeout (``SO_SNDTIMEO``): a blocking send
    that makes no progress for that long fails, at no cost to sends that don't wait.
    """
    family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if buffer_bytes is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_bytes)
        if block_timeout is not None:
            seconds = int(block_timeout)
            micros = int((block_timeout - seconds) * 1e6)
            timeval = struct.pack("ll", seconds, micros)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        sock.connect(address)
        hello = {
            "pid": os.getpid(),
            "name": process_name(),
            "role": role,
            "token": token,
        }
        sock.sendall(_wire.frame(_wire.KIND_HELLO, _wire.encode(hello)), SEND_FLAGS)
    except BaseException:
        sock.close()
        raise
    return sock


def send_if_room(sock: socket.socket, data: bytes) -> bool:
    """Send ``data`` if the stream has room for its start; never leave half a frame."""
    try:
        sent = sock.send(data, SEND_FLAGS | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:], SEND_FLAGS)
    return True
