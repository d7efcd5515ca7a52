"""The logging side of a process: the handler that ships records to the listener.

Every process that logs (main, pool workers, their children) has one ``ShippingHandler`` on its
root logger with its *own* connection to the listener. A record is encoded in the calling thread
and written to that connection before the logging call returns; nothing is buffered in the
process, so a record whose call returned survives the process's abrupt death (the kernel still
delivers what was written). A per-process connection means no lock is shared between processes:
a process killed mid-write tears only its own stream.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import weakref
from dataclasses import dataclass, replace

from mplog import _wire

Address = str | tuple[str, int]

_FALLBACK_FORMAT = "%(asctime)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)


@dataclass(frozen=True)
class WorkerConfig:
    """What a child needs to log into a listener: small, picklable, safe to send anywhere.

    Get it from :attr:`mplog.Listener.worker_config` and pass it to
    :func:`mplog.configure_worker` in the child.
    """

    address: Address
    token: str
    root_level: int = logging.WARNING
    levels: tuple[tuple[str, int], ...] = ()

    def with_current_levels(self) -> WorkerConfig:
        """Return a copy carrying this process's current logger levels."""
        root, levels = capture_levels()
        return replace(self, root_level=root, levels=levels)


def capture_levels() -> tuple[int, tuple[tuple[str, int], ...]]:
    """Return the root level and every explicitly set logger level of this process."""
    manager = logging.getLogger().manager
    levels = tuple(
        (name, logger.level)
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    )
    return logging.getLogger().level, levels


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


def connect(address: Address, token: str, role: str) -> socket.socket:
    """Open a connection to the listener and introduce this process on it."""
    family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.connect(address)
        hello = {
            "pid": os.getpid(),
            "name": process_name(),
            "role": role,
            "token": token,
        }
        sock.sendall(_wire.frame(_wire.KIND_HELLO, _wire.encode(hello)), _SEND_FLAGS)
    except BaseException:
        sock.close()
        raise
    return sock


class ShippingHandler(logging.Handler):
    """Send every record to the listener at ``address`` over this process's own connection.

    Connects lazily, and again in a forked child (which must never write into its parent's
    stream). When the listener cannot be reached, records go to stderr after a one-time notice
    saying why, so nothing is dropped silently.
    """

    def __init__(self, address: Address, token: str) -> None:
        super().__init__()
        self.address = address
        self.token = token
        self._sock: socket.socket | None = None
        self._process_name: str | None = None
        self._failure: str | None = None
        self._fallback_formatter = logging.Formatter(_FALLBACK_FORMAT)
        _handlers.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Ship ``record``; on failure write it to stderr. Never raises."""
        try:
            if threading.get_ident() in listener_threads:
                # A handler inside a thread listener logged: shipping it to ourselves could
                # fill our own socket (deadlock) or feed back into the same handler forever.
                self.fallback(record)
                return
            if self._failure is None:
                try:
                    self._send(record)
                    return
                except OSError as exc:
                    self._give_up(f"{type(exc).__name__}: {exc}")
            self.fallback(record)
        except Exception:
            self.handleError(record)

    def _send(self, record: logging.LogRecord) -> None:
        sock = self._sock
        if sock is None:
            sock = self._sock = connect(self.address, self.token, "worker")
            self._process_name = process_name()
        if record.processName == "MainProcess" and self._process_name != "MainProcess":
            record = logging.makeLogRecord({**record.__dict__, "processName": self._process_name})
        sock.sendall(_wire.frame(_wire.KIND_RECORD, _wire.record_body(record)), _SEND_FLAGS)

    def _give_up(self, reason: str) -> None:
        self._drop_connection()
        self._failure = reason
        sys.stderr.write(
            f"mplog: process {os.getpid()} cannot reach the log listener at {self.address!r}"
            f" ({reason}); its records go to stderr from now on.\n"
        )

    def fallback(self, record: logging.LogRecord) -> None:
        """Write a record the listener cannot take to stderr.

        Override to send undeliverable records somewhere else.
        """
        sys.stderr.write(self._fallback_formatter.format(record) + "\n")
        sys.stderr.flush()

    def _drop_connection(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def after_fork_in_child(self) -> None:
        """Forget the parent's connection: the child opens its own on its first record."""
        self._drop_connection()
        self._failure = None
        self._process_name = None

    def close(self) -> None:
        """Close the connection; the listener sees a clean end of stream."""
        self.acquire()
        try:
            self._drop_connection()
        finally:
            self.release()
        super().close()


_handlers: weakref.WeakSet[ShippingHandler] = weakref.WeakSet()
_active: WorkerConfig | None = None
#: Idents of threads running a listener loop in this process.
listener_threads: set[int] = set()


def _after_fork_in_child() -> None:
    for handler in list(_handlers):
        handler.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def set_active(config: WorkerConfig | None) -> None:
    """Make ``config`` the one the pool wrappers use when given no explicit listener."""
    global _active
    _active = config


def active_address() -> Address | None:
    """Where the active listener listens, or None."""
    return None if _active is None else _active.address


def active_config() -> WorkerConfig | None:
    """The active listener's config with this process's current levels, or None."""
    return None if _active is None else _active.with_current_levels()


def configure_worker(worker_config: WorkerConfig) -> None:
    """Make this process log into the listener described by ``worker_config``.

    Replaces the root logger's handlers with one :class:`ShippingHandler` (keeping it if it
    already points at that listener, as in a forked child) and applies the logger levels
    captured in the parent, so records filtered there are filtered here, before shipping.
    Idempotent: pool wrappers call it in every worker, users may call it again.
    """
    if not isinstance(worker_config, WorkerConfig):
        raise TypeError(
            "configure_worker() takes the WorkerConfig from Listener.worker_config, got "
            f"{type(worker_config).__name__}; call mplog.setup_listener() in the main process "
            "and pass listener.worker_config to the child"
        )
    root = logging.getLogger()
    if not any(
        isinstance(h, ShippingHandler) and h.address == worker_config.address for h in root.handlers
    ):
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(ShippingHandler(worker_config.address, worker_config.token))
    apply_levels(worker_config)
    set_active(worker_config)


def apply_levels(worker_config: WorkerConfig) -> None:
    """Set the root and per-logger levels carried by ``worker_config`` in this process."""
    logging.getLogger().setLevel(worker_config.root_level)
    for name, level in worker_config.levels:
        logging.getLogger(name).setLevel(level)
