"""Signals in main: SIGTERM becomes ``SystemExit(143)``, and no signal waits on a blocking call.

Two facts about CPython's signal handling (every version; far more frequent on 3.14 and 3.15)
that the listener's guarantees depend on, and what this module does about them:

1. A Python-level handler runs in the main thread only when it next checks for pending
   signals, between bytecodes or when a system call fails with EINTR. A signal that arrives
   just before main enters a blocking call (``time.sleep``, a lock, ``select``) has no call
   to interrupt: its handler waits until the call returns (cpython #98140). Ctrl+C or SIGTERM
   right after a ``print`` and before ``time.sleep(60)`` is acted on 60 s later (measured: 1
   in 100 on 3.11, 9 on 3.14.10, 26 on 3.15.2, under load). Here, main's wakeup fd
   (``signal.set_wakeup_fd``) reports every signal to a *kicker*, a thread of the listener (in
   main with ``mode="thread"``, in the listener process with ``mode="process"``). After a
   SIGINT or SIGTERM it sends main ``SIGURG`` every ``KICK_INTERVAL`` seconds until main's
   (empty) SIGURG handler has run: a signal delivered *during* the blocking call interrupts
   it, and CPython then runs every pending handler. SIGURG is ignored by default and carries
   no meaning of its own, so a kick that was not needed costs one retried system call.
2. A forked child inherits main's Python handler until an at-fork hook resets it; a SIGTERM
   in between only sets a flag that the reset discards, so the child ignores its parent's
   ``Pool.terminate()`` and the parent waits forever to join it. Here SIGTERM is blocked in
   the forking thread across ``fork()``; the child resets every handler installed here, then
   unblocks SIGTERM: a pending one kills it by the default action, as without mplog.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

#: The signal that kicks main out of a blocking call. Ignored by default.
KICK = signal.SIGURG
KICK_INTERVAL = 0.05
#: Signals whose handler must not wait: they end main, and with it the drain.
_URGENT = frozenset({signal.SIGINT, signal.SIGTERM})
#: Written by main's SIGURG handler: every handler pending before the kick has run.
_ACK = 0


@dataclass
class _Installed:
    """What :func:`install` changed in main (pid ``pid``), so it can be undone."""

    pid: int
    wakeup: socket.socket | None
    sigterm: bool


_installed: _Installed | None = None
_fork_masks = threading.local()


def channel() -> tuple[socket.socket, socket.socket]:
    """A connected pair: main's end (its wakeup fd) and the kicker's end."""
    main_end, kicker_end = socket.socketpair()
    main_end.setblocking(False)
    return main_end, kicker_end


def install(main_end: socket.socket) -> None:
    """In main, on its main thread: SIGTERM raises ``SystemExit(143)`` if it had its default
    action, and signals are reported on ``main_end`` for the kicker if main's wakeup fd and
    SIGURG are free (an asyncio loop's signal handling takes the wakeup fd). Otherwise
    ``main_end`` is closed and the kicker ends."""
    global _installed
    if threading.current_thread() is not threading.main_thread() or _installed is not None:
        main_end.close()
        return
    sigterm = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if sigterm:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    wakeup: socket.socket | None = None
    if signal.getsignal(KICK) == signal.SIG_DFL:
        signal.signal(KICK, _acknowledge)
        previous = signal.set_wakeup_fd(main_end.fileno(), warn_on_full_buffer=False)
        if previous == -1:
            wakeup = main_end
        else:  # someone else's: keep it
            signal.set_wakeup_fd(previous)
            signal.signal(KICK, signal.SIG_DFL)
    if wakeup is None:
        main_end.close()
    _installed = _Installed(os.getpid(), wakeup, sigterm)


def release() -> None:
    """Undo :func:`install` (main's thread only; elsewhere everything stays as it is)."""
    global _installed
    installed = _installed
    on_main_thread = threading.current_thread() is threading.main_thread()
    if installed is None or installed.pid != os.getpid() or not on_main_thread:
        return
    _installed = None
    _reset(installed)


def _reset(installed: _Installed) -> None:
    if installed.wakeup is not None:
        current = signal.set_wakeup_fd(-1)
        if current != installed.wakeup.fileno():
            signal.set_wakeup_fd(current)
        if signal.getsignal(KICK) is _acknowledge:
            signal.signal(KICK, signal.SIG_DFL)
        installed.wakeup.close()
    if signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    installed = _installed
    if installed is not None and installed.pid != os.getpid():
        # A child forked without Python's at-fork hooks: die as if mplog were not there.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise SystemExit(128 + signum)


def _acknowledge(signum: int, frame: FrameType | None) -> None:
    installed = _installed
    if installed is not None and installed.wakeup is not None:
        with contextlib.suppress(OSError):
            installed.wakeup.send(bytes([_ACK]))


def kick_until_handled(kicker_end: socket.socket, kick: Callable[[], None]) -> None:
    """The kicker: after each SIGINT or SIGTERM main receives, call ``kick`` (send main
    SIGURG) every KICK_INTERVAL seconds until main acknowledges. Ends with main's end."""
    pending = False
    with kicker_end:
        while True:
            timeout = KICK_INTERVAL if pending else None
            if not select.select([kicker_end], [], [], timeout)[0]:
                with contextlib.suppress(OSError):  # main is gone
                    kick()
                continue
            try:
                data = kicker_end.recv(256)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum == _ACK:
                    pending = False
                elif signum in _URGENT:
                    pending = True


def start_kicker(kicker_end: socket.socket, kick: Callable[[], None]) -> threading.Thread:
    """Run :func:`kick_until_handled` in a daemon thread."""
    thread = threading.Thread(
        target=kick_until_handled, args=(kicker_end, kick), name="mplog-signals", daemon=True
    )
    thread.start()
    return thread


def kick_thread(ident: int) -> Callable[[], None]:
    """A kick for main's thread ``ident``, from a thread of the same process."""
    return lambda: signal.pthread_kill(ident, KICK)


def kick_process(pid: int) -> Callable[[], None]:
    """A kick for main, process ``pid``, from another process (the kernel hands a signal
    sent to a process to its main thread when that thread can take it)."""
    return lambda: os.kill(pid, KICK)


def _before_fork() -> None:
    installed = _installed
    if installed is not None and installed.sigterm and installed.pid == os.getpid():
        _fork_masks.saved = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _after_fork_in_parent() -> None:
    saved = getattr(_fork_masks, "saved", None)
    if saved is not None:
        _fork_masks.saved = None
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def _after_fork_in_child() -> None:
    global _installed
    installed, _installed = _installed, None
    if installed is not None:
        _reset(installed)
    _after_fork_in_parent()  # a SIGTERM that came meanwhile now ends this child


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
