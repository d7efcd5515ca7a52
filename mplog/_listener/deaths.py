"""Telling a death from a goodbye, and saying how a process ended.

A stream that ends without a goodbye frame is a death (SIGKILL, ``os._exit``, a crash). Its
report waits a moment (``SETTLE``): a pool that terminates its own workers announces it first
on its own stream, and that announcement may be read just after the workers' streams end.
Announced exits are recorded, not reported. A pidfd per local process catches the exit the
moment it happens, while its status can still be read (see ``mplog._listener.exitstatus``).
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass

from mplog._listener.exitstatus import exit_status, peek_exit_status
from mplog._listener.peers import Peer

#: How long a death report waits for an announcement that the exit was expected.
SETTLE = 0.25


@dataclass
class ExitWatch:
    """A pidfd that turns readable when ``peer``'s process exits."""

    peer: Peer
    pidfd: int


class Deaths:
    """The listener's record of which processes ended, how, and whether anyone said so."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        report: Callable[[int, str], None],
        *,
        local: bool,
    ) -> None:
        self._selector = selector
        self._report = report
        self._local = local and hasattr(os, "pidfd_open")
        self._expected: dict[int, str] = {}
        self._pending: list[tuple[float, Peer]] = []

    def watch(self, peer: Peer) -> None:
        """Watch a local process for its exit, to read its status before it is reaped (not a
        subinterpreter: its process's exit says nothing of its own end)."""
        if not self._local or peer.interpreter:
            return
        try:
            pidfd = os.pidfd_open(peer.pid or 0)
        except ProcessLookupError:  # gone (and reaped) before its hello was read
            peer.exited = True
            return
        except OSError:
            return
        self._selector.register(pidfd, selectors.EVENT_READ, ExitWatch(peer, pidfd))

    def exited(self, watch: ExitWatch) -> None:
        """The watched process exited: note its status while it can still be read."""
        self._selector.unregister(watch.pidfd)
        os.close(watch.pidfd)
        watch.peer.exited = True
        if not watch.peer.said_bye:
            watch.peer.exit_status = peek_exit_status(watch.peer.pid or 0)

    def expect(self, pids: list[int], why: str) -> None:
        """These processes are about to be ended on purpose (e.g. by ``Pool.terminate()``)."""
        self._expected.update((int(pid), why) for pid in pids)

    def ended_without_goodbye(self, peer: Peer) -> None:
        """A stream ended with no goodbye: report it once the settle time has passed."""
        peer.exit_status = peer.exit_status or peek_exit_status(peer.pid or 0)
        self._pending.append((time.monotonic() + SETTLE, peer))

    def next_due(self) -> float | None:
        """When the earliest pending report is due (monotonic), or None."""
        return self._pending[0][0] if self._pending else None

    def settle(self, *, everything: bool = False) -> None:
        """Decide every pending death that is due (all of them with ``everything``)."""
        now = time.monotonic()
        while self._pending and (everything or self._pending[0][0] <= now):
            _, peer = self._pending.pop(0)
            self._decide(peer)

    def _decide(self, peer: Peer) -> None:
        how = peer.exit_status or exit_status(peer.pid or 0, wait=0.05)
        why = self._expected.pop(peer.pid or 0, None)
        if why is not None:
            peer.ended = f"ended by {why} ({how})"
            return
        peer.ended = f"died: {how}"
        self._report(
            20 if "SIGTERM" in how else 30,  # INFO for a polite kill, else WARNING
            f"process {peer.pid} ({peer.name}) ended without closing its log stream "
            f"({how}); {peer.received} records were received from it",
        )

    def close(self) -> None:
        """Release every pidfd still watched."""
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, ExitWatch):
                self._selector.unregister(key.fd)
                os.close(key.data.pidfd)
