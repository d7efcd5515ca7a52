"""The logging side of a process: the handler that ships records to the listener.

Every process that logs (main, pool workers, their children) has one ``ShippingHandler`` on its
root logger with its *own* connection to the listener. A record is encoded in the calling thread
and written to that connection before the logging call returns; nothing is buffered in the
process, so a record whose call returned survives the process's abrupt death (the kernel still
delivers what was written). A network sender also keeps what the listener has not yet
acknowledged, to send it again after a reconnect (``reconnect.ResilientStream``). A
per-process connection means no lock is shared between processes: a process killed
mid-write tears only its own stream.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator

from mplog import _protocol
from mplog._settings import DEFAULT_FORMAT, Address, WorkerConfig
from mplog._worker.connection import Stream, open_stream, process_name, send_frame
from mplog._worker.context import stamp, stamp_needed
from mplog._worker.formatting import LineFormatter
from mplog._worker.levels import apply_levels, capture_levels, follow_levels

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

    from mplog._worker.lines import PlanLines
    from mplog._worker.reconnect import ResilientStream

#: Since 3.12 a passing filter (and so ``Handler.handle``) returns the record itself.
_FILTER_RETURNS_RECORD = sys.version_info >= (3, 12)


class ShippingHandler(logging.Handler):
    """Send every record to the listener over this process's own connection.

    Connects lazily, and again in a forked child (which must never write into its parent's
    stream). Applies the config's overflow policy. When the listener cannot be reached,
    records go to :meth:`fallback` (stderr) after a one-time notice saying why, so nothing is
    dropped silently.
    """

    _config: WorkerConfig
    _line_formatter: LineFormatter | None
    _plan_lines: PlanLines | None
    _drop_below: int

    def __init__(self, config: WorkerConfig) -> None:
        super().__init__()
        self.config = config
        self._stream: Stream | ResilientStream | None = None
        self._process_name: str | None = None
        self._failure: str | None = None
        self._dropped: Counter[str] = Counter()
        self._next_drop_report = 0.0
        self._fallback_formatter = logging.Formatter(DEFAULT_FORMAT)
        _handlers.add(self)

    @property
    def config(self) -> WorkerConfig:
        """Where and how this handler ships (replaced by a later ``configure_worker``)."""
        return self._config

    @config.setter
    def config(self, config: WorkerConfig) -> None:
        # Derived once here, not per record: the hot path only reads them.
        self._config = config
        line_format = config.line_format
        self._line_formatter = None if line_format is None else LineFormatter(*line_format)
        self._plan_lines = None
        if line_format is None and config.plan is not None:  # imported here: a worker with
            from mplog._worker.lines import PlanLines  # one text format never needs it

            self._plan_lines = PlanLines(config.plan)
        self._drop_below = config.shipping.drop_below
        self._welcome: bytes | None = None  # the listener's welcome this config follows

    def handle(self, record: logging.LogRecord) -> Any:
        """``logging.Handler.handle``, with its common case (no filters on this handler) kept
        short, since it runs for every record the process logs. Override :meth:`emit` rather
        than this."""
        if self.filters:
            return super().handle(record)
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self.emit(record)
        return record if _FILTER_RETURNS_RECORD else True

    def emit(self, record: logging.LogRecord) -> None:
        """Ship ``record``; on failure write it to stderr. Never raises."""
        try:
            if _listener_threads and threading.get_ident() in _listener_threads:
                # A handler inside a thread listener logged: shipping it to ourselves could
                # fill our own socket (deadlock) or feed back into the same handler forever.
                self.fallback(record)
                return
            if self._failure is None:
                try:
                    self._ship(record)
                    return
                except OSError as exc:
                    self._give_up(self._reason(exc))
                except _protocol.FrameTooLarge:  # over TCP: this record only, to stderr
                    pass
            self.fallback(record)
        except Exception:
            self.handleError(record)

    def _ship(self, record: logging.LogRecord) -> None:
        stream = self._stream or self._open()
        if stream.welcome is not self._welcome:  # a network sender (re)connected
            self._follow_welcome(stream.welcome)
        if record.processName == "MainProcess" and self._process_name != "MainProcess":
            record = logging.makeLogRecord({**record.__dict__, "processName": self._process_name})
        if self._dropped and time.monotonic() >= self._next_drop_report:
            self._report_drops(stream, wait=False)
        wait = record.levelno >= self._drop_below
        # The hot path, kept to a few calls: a finished line when the destination takes them.
        line = None
        formatter = self._line_formatter
        if formatter is not None:
            if stamp_needed(formatter.names_pool_fields):
                stamp(record)
            try:
                line = formatter.format(record)
            except Exception:  # e.g. a %(field)s the record lacks: let the listener report it
                line = None
        if line is not None:
            sent = stream.send_line(record.levelno, line, wait=wait)
        else:
            shipment = self._shipment(record)
            if shipment is None:  # no handler of the listener takes it
                return
            sent = stream.send_shipment(shipment, wait=wait)
        if not sent:
            self._dropped[record.levelname] += 1

    def _shipment(self, record: logging.LogRecord) -> _protocol.Shipment | None:
        """A record not formatted here: its lines for the plan (None: none), or the record."""
        plan = self._plan_lines
        if plan is None:
            stamp(record)  # the listener's formats and filters may use every field
            frame = _protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record))
            return (record.levelno, _protocol.NO_LINE, b"", frame)
        return plan.ship(record)  # the lines of the listener's handlers

    @property
    def failure(self) -> str | None:
        """Why this handler gave up on the listener (its records go to stderr), or None."""
        return self._failure

    def connect(self) -> None:
        """Connect now rather than at the first record (for level changes to arrive)."""
        self.acquire()
        try:
            if self._stream is None and self._failure is None:
                try:
                    self._open()
                except OSError as exc:
                    self._give_up(self._reason(exc))
        finally:
            self.release()

    def announce_exits(self, pids: list[int], why: str) -> None:
        """Tell the listener these processes are about to be ended on purpose, so their
        streams' abrupt end is recorded as such rather than reported as a death."""
        self.acquire()
        try:
            stream = self._stream or (None if self._failure else self._open())
            if stream is not None:
                body = _protocol.encode({"pids": pids, "why": why})
                stream.send(_protocol.frame(_protocol.KIND_EXITING, body))
        except OSError as exc:
            self._give_up(self._reason(exc))
        finally:
            self.release()

    def _open(self) -> Stream | ResilientStream:
        config = self.config
        if isinstance(config.address, tuple):  # over the network: spooled, reconnecting
            from mplog._worker.reconnect import open_resilient  # not for local workers

            resilient = self._stream = open_resilient(config, self.say_goodbye)
            self._process_name = process_name()
            _close_at_process_exit(self)
            self._follow_welcome(resilient.welcome)
            return resilient
        stream = self._stream = open_stream(
            config.address,
            config.token,
            block_timeout=config.shipping.block_timeout,
            buffer_bytes=config.shipping.buffer_bytes,
            key=config.key,
            tls=config.tls,
        )
        self._process_name = process_name()
        _close_at_process_exit(self)
        if config.shipping.live_levels:
            follow_levels(stream.sock, self.say_goodbye)
        return stream

    def _follow_welcome(self, body: bytes | None) -> None:
        """Format lines as the listener's welcome ``body`` says, from the next record on."""
        stream = self._stream
        if body is not None and stream is not None and not isinstance(stream, Stream):
            from mplog._worker.reconnect import welcomed  # network senders only

            self.config = welcomed(stream, self._config, body)
            self._welcome = body

    def _report_drops(self, stream: Stream | ResilientStream, *, wait: bool) -> None:
        """Tell the listener what was dropped, per level (it logs the summary and counts it):
        at most once a second, and at goodbye."""
        body = _protocol.encode({"counts": dict(self._dropped)})
        if not send_frame(stream, _protocol.frame(_protocol.KIND_DROPPED, body), wait=wait):
            return
        self._dropped.clear()
        self._next_drop_report = time.monotonic() + 1.0

    def _reason(self, exc: OSError) -> str:
        if isinstance(exc, BlockingIOError):
            return f"it accepted nothing for {self.config.shipping.block_timeout}s"
        return f"{type(exc).__name__}: {exc}"

    def _give_up(self, reason: str) -> None:
        self._drop_connection(grace=0.0)
        self._failure = reason
        sys.stderr.write(
            f"mplog: process {os.getpid()} cannot reach the log listener at "
            f"{self.config.address!r} ({reason}); its records go to stderr from now on.\n"
        )

    def fallback(self, record: logging.LogRecord) -> None:
        """Write a record the listener cannot take to stderr (override to send it elsewhere)."""
        sys.stderr.write(self._fallback_formatter.format(record) + "\n")
        sys.stderr.flush()

    def _drop_connection(self, *, ours: bool = True, grace: float | None = None) -> None:
        stream, self._stream = self._stream, None
        if isinstance(stream, Stream):
            stream.close(ours=ours)
        elif stream is not None:  # a network sender's ResilientStream
            left = stream.close(ours=ours) if grace is None else stream.close(grace=grace)
            if left:
                self._undelivered(left)

    def _undelivered(self, frames: list[bytes]) -> None:
        """Write to stderr the records a network sender's listener never acknowledged."""
        from mplog._worker.reconnect import undelivered  # network senders only

        if not (records := undelivered(frames)):
            return
        sys.stderr.write(
            f"mplog: process {os.getpid()}: the log listener at {self.config.address!r} did "
            f"not acknowledge its last {len(records)} records; they follow (some may also "
            "have been written by it).\n"
        )
        for line_or_fields in records:
            if isinstance(line_or_fields, str):
                sys.stderr.write(line_or_fields)
            else:
                self.fallback(_protocol.make_record(line_or_fields))
        sys.stderr.flush()

    def after_fork_in_child(self) -> None:
        """Forget the parent's connection: the child opens its own on its first record."""
        self._drop_connection(ours=False)
        self._failure = None
        self._process_name = None
        self._dropped.clear()

    def say_goodbye(self) -> None:
        """End the stream cleanly, so the listener knows this process did not die."""
        self.acquire()
        try:
            if self._stream is not None:
                with contextlib.suppress(OSError):
                    if self._dropped:
                        self._report_drops(self._stream, wait=True)
                    self._stream.send(_protocol.frame(_protocol.KIND_BYE, b""))
            self._drop_connection()
        finally:
            self.release()

    def close(self) -> None:
        """Say goodbye to the listener and close the connection."""
        self.say_goodbye()
        super().close()


def _close_at_process_exit(handler: ShippingHandler) -> None:
    # multiprocessing children leave through os._exit: no atexit, no logging.shutdown. Their
    # exit runs multiprocessing's finalizers; the lowest priority runs after the others,
    # which may still log.
    for package in ("multiprocessing", "multiprocess"):
        module = sys.modules.get(package)
        util = sys.modules.get(package + ".util")
        if module is not None and util is not None and module.parent_process() is not None:
            util.Finalize(None, handler.say_goodbye, exitpriority=-(2**30))


_handlers: weakref.WeakSet[ShippingHandler] = weakref.WeakSet()
_active: WorkerConfig | None = None
#: Idents of threads running a listener loop in this process.
_listener_threads: set[int] = set()


@contextlib.contextmanager
def listener_thread() -> Iterator[None]:
    """Mark the calling thread as running a listener loop for the duration: records logged
    by its handlers go to stderr, never back into the listener they would feed."""
    ident = threading.get_ident()
    _listener_threads.add(ident)
    try:
        yield
    finally:
        _listener_threads.discard(ident)


def _after_fork_in_child() -> None:
    # The parent's listener thread does not exist here, and its ident may be reused.
    _listener_threads.clear()
    for handler in list(_handlers):
        handler.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def announce_exits(pids: list[int], why: str) -> None:
    """Announce deliberate exits through this process's ShippingHandler, if it has one."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ShippingHandler):
            handler.announce_exits(pids, why)
            return


def with_current_levels(config: WorkerConfig) -> WorkerConfig:
    """``config`` carrying this process's current logger levels."""
    return config.with_levels(*capture_levels())


def set_active(config: WorkerConfig | None) -> None:
    """Make ``config`` the one the pool wrappers use when given no explicit listener."""
    global _active
    _active = config


def active_address() -> Address | None:
    """Where the active listener listens, or None."""
    return None if _active is None else _active.address


def active_config() -> WorkerConfig | None:
    """The active listener's config with this process's current levels, or None."""
    return None if _active is None else with_current_levels(_active)


def configure_worker(worker_config: WorkerConfig) -> None:
    """Make this process log into the listener described by ``worker_config``.

    Replaces the root logger's handlers with one :class:`ShippingHandler` (kept if it already
    points at that listener, as in a forked child) and applies the parent's logger levels
    (what it filters is filtered here). Idempotent: pool wrappers call it in every worker.
    """
    if not isinstance(worker_config, WorkerConfig):
        raise TypeError(
            "configure_worker() takes the WorkerConfig from Listener.worker_config, got "
            f"{type(worker_config).__name__}; call mplog.setup_listener() in the main process "
            "and pass listener.worker_config to the child"
        )
    root = logging.getLogger()
    current = [
        h
        for h in root.handlers
        if isinstance(h, ShippingHandler) and h.config.address == worker_config.address
    ]
    if current:
        handler = current[0]
        handler.config = worker_config
    else:
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = ShippingHandler(worker_config)
        root.addHandler(handler)
    if worker_config.shipping.live_levels:
        # A process whose records are all filtered would never connect, and so never hear
        # of the level change meant to let them through.
        handler.connect()
    apply_levels(worker_config.root_level, worker_config.levels)
    set_active(worker_config)
