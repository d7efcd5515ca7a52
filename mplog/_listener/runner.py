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

from mplog._listener import signals
from mplog._listener.loop import ListenerLoop
from mplog._outputs.destinations import Destination
from mplog._outputs.router import Router
from mplog._settings import Address
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


def _bind(address: Address) -> tuple[socket.socket, Address]:
    """Listen on ``address``; return the socket and the address as bound (real TCP port)."""
    family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    bound = sock.getsockname()
    return sock, (bound[0], bound[1]) if isinstance(address, tuple) else address


def _serve_in_process(
    destination: Destination,
    address: Address,
    token: str,
    ready: Any,
    tempdir: str | None,
    kicker_end: socket.socket,
    main_pid: int,
) -> None:
    """Entry point of the listener process."""
    # Ctrl+C reaches the whole process group; main decides when the listener stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signals.start_kicker(kicker_end, signals.kick_process(main_pid))
    try:
        server, bound = _bind(address)
        router = destination.build()
    except Exception as exc:
        try:
            ready.send(("error", exc))
        except Exception:
            ready.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        return
    ready.send(("ready", bound))
    ready.close()
    try:
        ListenerLoop(server, token, router).run()
    finally:
        if tempdir is not None:  # main may be gone (killed) and unable to remove it
            shutil.rmtree(tempdir, ignore_errors=True)


def start_thread(
    destination: Destination, address: Address, token: str, kicker_end: socket.socket
) -> tuple[threading.Thread, Router, Address]:
    """Build the handlers here and run the loop in a daemon thread of this process, and the
    signal kicker (``mplog._listener.signals``) in another."""
    router = destination.build()
    try:
        server, bound = _bind(address)
    except BaseException:
        router.close()
        raise
    loop = ListenerLoop(server, token, router)
    thread = threading.Thread(target=_run_loop, args=(loop,), name="mplog-listener", daemon=True)
    thread.start()
    main_thread = threading.main_thread().ident or 0
    signals.start_kicker(kicker_end.dup(), signals.kick_thread(main_thread))
    return thread, router, bound


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
) -> tuple[Any, Address]:
    """Start the listener process from ``ctx`` (see :func:`default_context`); wait until it
    listens."""
    ctx = ctx or default_context()
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_serve_in_process,
        args=(destination, address, token, sender, tempdir, kicker_end, os.getpid()),
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
    bound: Address = tuple(value) if isinstance(value, (tuple, list)) else value
    return process, bound


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
