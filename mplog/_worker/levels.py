"""Logger levels across processes: captured in one, applied in another, changed live.

A child starts with the levels its parent had when the pool was made (carried in the
``WorkerConfig``). Later changes made with ``Listener.set_level`` travel the other way on each
process's connection: the listener pushes them, and a small reader thread per process applies
them, so a pool picks up DEBUG for one subsystem without a restart.

A subinterpreter (``InterpreterPoolExecutor``) refuses daemon threads, so there the reader is
an ordinary thread, and the connection is closed (which ends it) before the interpreter joins
its threads at its end: the reader never holds an interpreter's shutdown up.
"""

from __future__ import annotations

import _thread
import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterable

from mplog import _compat, _protocol


def capture_levels() -> tuple[int, tuple[tuple[str, int], ...]]:
    """Return the root level and every explicitly set logger level of this process."""
    manager = logging.getLogger().manager
    levels = tuple(
        (name, logger.level)
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    )
    return logging.getLogger().level, levels


def apply_levels(root_level: int, levels: Iterable[tuple[str, int]]) -> None:
    """Set the root level and per-logger levels in this process ("" is the root)."""
    logging.getLogger().setLevel(root_level)
    for name, level in levels:
        logging.getLogger(name or None).setLevel(level)


def follow_levels(sock: socket.socket, close: Callable[[], object]) -> bool:
    """Start a thread applying the level changes the listener sends on ``sock``; return
    whether one was started.

    It ends with the connection (``shutdown`` wakes it; a forked child never has it). Where
    daemon threads are allowed, it is a bare ``_thread`` thread, daemon-like: starting it
    does not wait until the new thread has run, as ``threading.Thread.start`` does (on a
    loaded machine that wait cost a spawned worker several milliseconds; the bare start,
    20 us). It is therefore not listed by ``threading.enumerate()``. Where daemon threads are
    refused (a subinterpreter), it is an ordinary thread named ``mplog-levels``, and
    ``close`` (which ends the connection) is registered to run before the interpreter joins
    its threads; if it is already ending, no thread is started.
    """
    return start_thread(functools.partial(_read_levels, sock), "mplog-levels", close)


def start_thread(target: Callable[[], object], name: str, close: Callable[[], object]) -> bool:
    """Start a connection's reader thread (see :func:`follow_levels`); return whether one was
    started: a bare daemon-like ``_thread`` thread, or where daemon threads are refused an
    ordinary thread called ``name`` that ``close`` ends before the interpreter joins it."""
    if _compat.daemon_threads_allowed():
        _thread.start_new_thread(target, ())
        return True
    if not _compat.before_thread_join(close):
        return False
    threading.Thread(target=target, name=name).start()
    return True


def apply_pushed(body: bytes) -> None:
    """Apply the levels of a ``KIND_LEVELS`` frame the listener pushed."""
    for name, level in _protocol.decode(body)["levels"]:
        logging.getLogger(name or None).setLevel(level)


def _read_levels(sock: socket.socket) -> None:
    reader = None  # made at the first push: most workers never get one (and skip the import)
    while True:
        try:
            data = sock.recv(1 << 16)
        except OSError:
            return
        if not data:
            return
        if reader is None:
            from mplog._frames import FrameReader

            reader = FrameReader()
        for kind, body in reader.feed(data):
            if kind == _protocol.KIND_LEVELS:
                apply_pushed(body)
