"""The supervisor in main: start the listener (thread or process), wire main into it, stop it.

``setup_listener`` builds a :class:`Listener`; the listener loop (``mplog._listener.loop``)
runs in a daemon thread of main (``mode="thread"``) or in a process of its own
(``mode="process"``, so main can fork without threads and a crash in a handler cannot take
main down).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
import time
import weakref
from types import TracebackType
from typing import Any, Literal

from mplog import _compat, _frames, _protocol
from mplog._frozen import replace
from mplog._lineplan import LinePlan
from mplog._listener import runner, signals
from mplog._outputs.destinations import Destination
from mplog._outputs.router import Router
from mplog._settings import Address, Network, NetworkAccess, Shipping, WorkerConfig, to_level
from mplog._worker import cork
from mplog._worker import handler as worker
from mplog._worker.connection import connect
from mplog._worker.handler import ShippingHandler, with_current_levels

Mode = Literal["thread", "process"]


class Listener:
    """The one writer: records from every process that logs into it end up in its handlers.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. While running, main's
    root logger ships into it, and it is the *active* listener the pool wrappers use.
    """

    def __init__(
        self,
        destination: Destination,
        *,
        mode: Mode = "thread",
        address: Address | None = None,
        level: int | str | None = None,
        mp_context: Any = None,
        stop_timeout: float = 10.0,
        shipping: Shipping | None = None,
        network: Network | None = None,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError(f"mode must be 'thread' or 'process', got {mode!r}")
        self.shipping = shipping or Shipping()
        self.destination = destination
        self.mode: Mode = mode
        self.stop_timeout = stop_timeout
        self._requested_address = address
        self._level = None if level is None else to_level(level)
        self._mp_context = mp_context
        self._state = "new"
        self._owner_pid = os.getpid()
        self._result: dict[str, Any] = {}
        self._tempdir: str | None = None
        self._runner: threading.Thread | Any = None
        self._control: socket.socket | None = None
        self._handler: ShippingHandler | None = None
        self._saved_handlers: list[logging.Handler] = []
        self._config: WorkerConfig | None = None
        self._router: Router | None = None
        self._control_lock = threading.Lock()
        self._signals_end: socket.socket | None = None
        self._network = network
        self._network_address: tuple[str, int] | None = None
        self._plan: LinePlan | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Listener:
        """Start the listener and ship main's records into it. Returns ``self``."""
        if self._state != "new":
            raise RuntimeError("this Listener was already started; create a new one")
        token = secrets.token_hex(16)
        address = self._requested_address
        if address is None:
            self._tempdir, address = runner.private_socket_path()
        if self._network is not None and self._network.key is None:
            self._network = replace(self._network, key=token.encode())  # loopback only
        try:
            address = self._start_loop(address, token)
        except BaseException:
            self._remove_socket()
            raise
        self._config = WorkerConfig(
            address,
            token,
            shipping=self.shipping,
            line_format=self.destination.line_format(),
            plan=self._plan,
        )
        try:
            self._control = connect(address, token, "control")
            self._install_in_main()
        except BaseException:
            self._abandon()
            raise
        self._state = "running"
        _running.add(self)
        network = self._network
        if network is not None and not network.loopback and network.tls is None:
            sys.stderr.write(
                f"mplog: listening on {self._network_address} without TLS: senders are "
                "authenticated, but records travel in clear text; use it on a trusted network "
                "only, or pass tls=(cert, key)\n"
            )
        atexit.register(self.stop)
        return self

    def _start_loop(self, address: Address, token: str) -> Address:
        # The listener watches main's signals (see mplog._listener.signals) from the start.
        self._signals_end, kicker_end = signals.channel()
        with kicker_end:
            if self.mode == "thread":
                self._runner, self._router, bound = runner.start_thread(
                    self.destination, address, token, kicker_end, self._network
                )
            else:
                self._runner, bound = runner.start_process(
                    self.destination,
                    address,
                    token,
                    self._mp_context,
                    self._tempdir,
                    kicker_end,
                    self._network,
                )
        address, self._network_address, self._plan = bound
        return address

    def _abandon(self) -> None:
        """Undo a start that failed once the loop was running: put main's handlers back and
        end the loop (it stops when its control connection ends; a listener process that
        never got one is killed)."""
        self._uninstall_from_main()
        cork.flush_all()  # this process's own network senders, if any, are read too
        self._release_sigterm()
        if self._control is not None:
            self._control.close()
        # Without a control connection a thread loop cannot be told to stop: it stays idle
        # (a daemon thread); a process is killed at once.
        runner.join(self._runner, 5.0 if self._control is not None else 0.0)
        self._remove_socket()

    def _remove_socket(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
        elif isinstance(self._requested_address, str):
            _unlink_quietly(self._requested_address)

    def _install_in_main(self) -> None:
        assert self._config is not None
        root = logging.getLogger()
        self._saved_handlers = list(root.handlers)
        for handler in self._saved_handlers:
            root.removeHandler(handler)
        for name, level in self.destination.levels().items():
            logging.getLogger(name or None).setLevel(level)
        if self._level is not None:
            root.setLevel(self._level)
        # Main applies set_level() itself: no level-reader thread here, so that with
        # mode="process" main stays free of threads and safe to fork.
        in_main = replace(self.shipping, live_levels=False)
        self._handler = ShippingHandler(replace(self._config, shipping=in_main))
        root.addHandler(self._handler)
        worker.set_active(self._config)
        self._catch_sigterm()

    def _catch_sigterm(self) -> None:
        # SIGTERM's default action kills main without unwinding: a thread listener would die
        # with records still unread. Turn it into SystemExit, so `with` and atexit stop(),
        # and let the listener's kicker wake main for it (see mplog._listener.signals).
        end, self._signals_end = self._signals_end, None
        if end is not None:
            signals.install(end)

    def _release_sigterm(self) -> None:
        if self._signals_end is not None:  # never installed
            self._signals_end.close()
            self._signals_end = None
        signals.release()

    def stop(self, timeout: float | None = None) -> dict[str, Any]:
        """Drain every record already logged, flush and close the handlers, end the listener.

        Returns the listener's statistics. Idempotent; safe from atexit or after an exception.
        ``timeout`` (default ``stop_timeout``) bounds the drain when processes still log.
        """
        if self._state != "running" or os.getpid() != self._owner_pid:
            return self._result
        self._state = "stopped"
        _running.discard(self)
        atexit.unregister(self.stop)
        timeout = self.stop_timeout if timeout is None else timeout
        self._uninstall_from_main()
        cork.flush_all()  # this process's own network senders, if any, are read too
        self._release_sigterm()
        with self._control_lock:
            # The loop drains for at most `timeout`, then closes the handlers and replies.
            self._result = self._ask(_protocol.KIND_STOP, {"timeout": timeout}, timeout + 2.0)
            assert self._control is not None
            self._control.close()
        # A loop that replied is about to end; one that did not is stuck or dead.
        runner.join(self._runner, 5.0 if "error" not in self._result else 0.5)
        if "error" in self._result:
            sys.stderr.write(
                f"mplog: the log listener failed ({self._result['error']}); records it could "
                "not take were written to stderr by the processes that logged them\n"
            )
        elif self._result.get("unread_bytes"):
            sys.stderr.write(_cut_off_notice(self._result, timeout))
        self._remove_socket()
        return self._result

    def _uninstall_from_main(self) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
            self._handler.close()
        for handler in self._saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        if self._config is not None and worker.active_address() == self._config.address:
            worker.set_active(None)

    def set_level(self, logger: str, level: int | str) -> int:
        """Set ``logger``'s level ("" for the root) here and in every process logging into
        this listener, running pools included. Returns how many processes were told.

        Records below the new level are filtered in each process, never shipped. Processes
        that connect later (a replacement worker of an existing pool) get it when they do.
        """
        number = to_level(level)
        logging.getLogger(logger or None).setLevel(number)
        with self._control_lock:
            if self._state != "running":
                raise RuntimeError("the listener is not running")
            reply = self._ask(_protocol.KIND_LEVELS, {"levels": [[logger, number]]}, 10.0)
        if "error" in reply:
            raise RuntimeError(f"the listener could not take the level change: {reply['error']}")
        return int(reply["workers_seen"]) - sum(
            1 for _, p in _streams(reply) if p["state"] != "connected"
        )

    def reopen(self) -> None:
        """Reopen the destination's files (appending), in the listener: after an external
        tool (``logrotate``, ``mv``) moved them away, records go to new files of those names.
        """
        with self._control_lock:
            if self._state != "running":
                raise RuntimeError("the listener is not running")
            reply = self._ask(_protocol.KIND_REOPEN, {}, 10.0)
        if "error" in reply:
            raise RuntimeError(f"the listener could not reopen its files: {reply['error']}")

    def stats(self) -> dict[str, Any]:
        """The listener's counts: records received, written and dropped, in total and per
        process (by pid: name, levels, state) and per subinterpreter (``"interpreters"``, by
        ``(pid, interpreter id)``), backlog bytes, workers seen and dead.

        While running this asks the listener; after :meth:`stop` it returns the final counts.
        """
        with self._control_lock:
            if self._state != "running":
                return self._result
            return self._ask(_protocol.KIND_STATS, {}, 10.0)

    def _ask(self, kind: int, body: dict[str, Any], patience: float) -> dict[str, Any]:
        """Send a request and wait for the reply; each sign of progress from the listener
        (``KIND_PROGRESS``, sent while it drains) gives it ``patience`` seconds more."""
        control = self._control
        assert control is not None
        deadline = time.monotonic() + patience
        try:
            control.settimeout(patience)
            control.sendall(_protocol.frame(kind, _protocol.encode(body)))
            reader = _frames.FrameReader()
            while True:
                control.settimeout(max(0.0, deadline - time.monotonic()))
                data = control.recv(1 << 16)
                if not data:
                    raise ConnectionError("the listener ended without reporting")
                for reply_kind, reply in reader.feed(data):
                    if reply_kind == _protocol.KIND_REPLY:
                        return _protocol.decode(reply)
                    deadline = time.monotonic() + patience
        except OSError as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _forget_after_fork(self) -> None:
        """In a forked child: the listener is the parent's; never flush or close its handlers.

        A thread listener's handlers were copied into the child with whatever their buffers
        held; ``logging.shutdown()`` at the child's exit would write that again into the file.
        """
        self._state = "forked"
        _running.discard(self)
        if self._router is not None:
            _compat.forget_handlers(self._router.handlers)

    # -- what users read -------------------------------------------------------------------

    @property
    def address(self) -> Address | None:
        """Where workers connect (a socket path, or ``(host, port)``); None before start."""
        return None if self._config is None else self._config.address

    @property
    def network_address(self) -> tuple[str, int] | None:
        """Where remote senders connect (``listen=``), as bound: ``(host, port)`` with the
        real port; None without ``listen=`` or before start."""
        return self._network_address

    @property
    def network_access(self) -> NetworkAccess | None:
        """What a sender on another machine needs to reach this listener (``listen=``): its
        bound address, the key and whether it must speak TLS; None without ``listen=`` or
        when the listener is not running."""
        network, bound = self._network, self._network_address
        if network is None or network.key is None or bound is None or self._state != "running":
            return None
        return NetworkAccess(bound, network.key, tls=network.tls is not None)

    @property
    def worker_config(self) -> WorkerConfig:
        """A picklable value for :func:`mplog.configure_worker`, with main's current levels."""
        if self._config is None or self._state != "running":
            raise RuntimeError("the listener is not running: start it before configuring workers")
        return with_current_levels(self._config)

    def __enter__(self) -> Listener:
        if self._state == "new":
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<mplog.Listener mode={self.mode} {self._state} address={self.address!r}>"


def _cut_off_notice(stats: dict[str, Any], timeout: float) -> str:
    """The one line that says what stop() left unread in processes still logging."""
    cut = [
        f"pid {pid} {p['name']}: {p['unread_records']}"
        for pid, p in _streams(stats)
        if p["unread_bytes"]
    ]
    return (
        f"mplog: stop() timed out after {timeout:g}s with {len(cut)} process(es) still "
        f"logging: {stats['unread_records']} records ({stats['unread_bytes']} bytes) were left "
        f"unread and not written ({'; '.join(cut)}); see Listener.stats()['processes']; to "
        "wait longer, pass stop(timeout=...) or end those processes before stop()\n"
    )


def _streams(stats: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(pid, counts) of every process and subinterpreter in ``stats``."""
    processes = list(stats["processes"].items())
    return processes + [(key[0], p) for key, p in stats.get("interpreters", {}).items()]


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


_running: weakref.WeakSet[Listener] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for listener in list(_running):
        listener._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
