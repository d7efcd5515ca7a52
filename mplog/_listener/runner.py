"""Where the listener loop runs: a daemon thread of main, or a process of its own.

Both bind the socket and build the handlers before reporting ready, so a bad destination
fails ``setup_listener`` itself, before any worker starts.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from typing import Any

from mplog._lineplan import LinePlan
from mplog._listener import gate as _gate
from mplog._listener import signals
from mplog._listener.gate import Gate
from mplog._listener.loop import ListenerLoop
from mplog._listener.welcome import Welcome
from mplog._outputs.destinations import Destination
from mplog._outputs.router import Router
from mplog._settings import Address, Network, NetworkLimits
from mplog._worker import handler as worker

_START_TIMEOUT = 60.0


def private_socket_path() -> tuple[str, str]:
    """A socket path in a fresh private (0700) directory: ``(directory, path)``."""
    directory = tempfile.mkdtemp(prefix="mplog-")
    path = os.path.join(directory, "listener.sock")
    if len(path) > 100:  # AF_UNIX paths are limited to ~104 bytes
        shutil.rmtree(directory)
        directory = tempfile.mkdtemp(prefix="mplog-", dir="/tmp")
        path = os.path.join(directory, "listener.sock")
    return directory, path


class Sockets:
    """What the loop listens on: the local socket and/or the network gate, and where."""

    def __init__(self, address: Address, token: str, network: Network | None) -> None:
        self.server: socket.socket | None = None
        self.gate: Gate | None = None
        if isinstance(address, tuple):  # every process over TCP: the key is the token
            # Every process of the pool connects over TCP: the limits must not bite there.
            limits = NetworkLimits(max_connections=1 << 16, max_unauthenticated=1 << 10)
            net = Network(*address, limits=limits)
            self.gate = Gate(_gate.bind(net), token.encode(), net, control=True)
            self.address: Address = _bound(self.gate.server)
            return
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.server.bind(address)
            self.server.listen(socket.SOMAXCONN)
            if network is not None:
                assert network.key is not None
                self.gate = Gate(_gate.bind(network), network.key, network)
        except BaseException:
            self.close()
            raise
        self.address = address

    @property
    def network_address(self) -> tuple[str, int] | None:
        """Where remote senders connect, as bound (the real port), or None."""
        return None if self.gate is None else _bound(self.gate.server)

    def loop(self, token: str, router: Router, destination: Destination) -> ListenerLoop:
        welcome = None if self.gate is None else Welcome(router, destination.line_format())
        return ListenerLoop(self.server, token, router, gate=self.gate, welcome=welcome)

    def close(self) -> None:
        for sock in (self.server, self.gate and self.gate.server):
            if sock is not None:
                sock.close()


def _bound(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _serve_in_process(
    destination: Destination,
    address: Address,
    token: str,
    ready: Any,
    tempdir: str | None,
    kicker_end: socket.socket,
    main_pid: int,
    network: Network | None,
) -> None:
    """Entry point of the listener process."""
    # Ctrl+C reaches the whole process group; main decides when the listener stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signals.start_kicker(kicker_end, signals.kick_process(main_pid))
    try:
        sockets = Sockets(address, token, network)
        router = destination.build()
    except Exception as exc:
        try:
            ready.send(("error", exc))
        except Exception:
            ready.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        return
    ready.send(("ready", (sockets.address, sockets.network_address, router.plan)))
    ready.close()
    try:
        sockets.loop(token, router, destination).run()
    finally:
        if tempdir is not None:  # main may be gone (killed) and unable to remove it
            shutil.rmtree(tempdir, ignore_errors=True)


#: Where the loop listens (locally, on the network) and its router's line plan.
Bound = tuple[Address, "tuple[str, int] | None", "LinePlan | None"]


def start_thread(
    destination: Destination,
    address: Address,
    token: str,
    kicker_end: socket.socket,
    network: Network | None,
) -> tuple[threading.Thread, Router, Bound]:
    """Build the handlers here and run the loop in a daemon thread of this process, and the
    signal kicker (``mplog._listener.signals``) in another."""
    router = destination.build()
    try:
        sockets = Sockets(address, token, network)
    except BaseException:
        router.close()
        raise
    loop = sockets.loop(token, router, destination)
    thread = threading.Thread(target=_run_loop, args=(loop,), name="mplog-listener", daemon=True)
    thread.start()
    main_thread = threading.main_thread().ident or 0
    signals.start_kicker(kicker_end.dup(), signals.kick_thread(main_thread))
    return thread, router, (sockets.address, sockets.network_address, router.plan)


def _run_loop(loop: ListenerLoop) -> None:
    with worker.listener_thread():
        loop.run()


def default_context() -> Any:
    """How to start the listener process when the user names no context.

    Fork when it is safe, spawn otherwise. Fork starts in ~3 ms instead of ~60 ms (spawn
    starts a new interpreter and re-imports main), which matters for short jobs. It is safe
    when no other thread runs in this process (no lock can be held mid-fork; no 3.12+ fork
    warning) on Linux (macOS system libraries do not survive fork).
    """
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def start_process(
    destination: Destination,
    address: Address,
    token: str,
    ctx: Any,
    tempdir: str | None,
    kicker_end: socket.socket,
    network: Network | None,
) -> tuple[Any, Bound]:
    """Start the listener process from ``ctx`` (see :func:`default_context`); wait until it
    listens."""
    ctx = ctx or default_context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_serve_in_process,
        args=(destination, address, token, sender, tempdir, kicker_end, os.getpid(), network),
        name="mplog-listener",
    )
    process.start()
    sender.close()
    try:
        if not receiver.poll(_START_TIMEOUT):
            process.kill()
            raise RuntimeError(f"the listener process did not start in {_START_TIMEOUT}s")
        status, value = receiver.recv()
    except EOFError:
        process.join(5)
        raise RuntimeError(
            f"the listener process exited with code {process.exitcode} before it was ready"
        ) from None
    finally:
        receiver.close()
    if status == "error":
        process.join(5)
        raise value
    local, remote, plan = value
    bound: Address = tuple(local) if isinstance(local, (tuple, list)) else local
    return process, (bound, None if remote is None else (remote[0], remote[1]), plan)


def join(runner: threading.Thread | Any, wait: float) -> None:
    """Wait up to ``wait`` s for the loop to end; a listener process that won't is killed."""
    runner.join(wait)
    if isinstance(runner, threading.Thread) or not runner.is_alive():
        return
    runner.terminate()
    runner.join(1.0)
    if runner.is_alive():  # stopped (SIGSTOP) or ignoring SIGTERM
        runner.kill()
        runner.join(5.0)
