"""What the listener writes for a process: its lines appended, its records routed, counted.

Listener side only. The loop (``mplog._listener.loop``) reads and splits each stream; what
a process sent then comes here: runs of finished lines go to the router in one write per
handler (``Router.write_lines``, ``Router.write_tagged``), records to the handlers their
logger reaches (or, routed by the process, those of the plan it names), and the listener's
own notices through the same handlers. Every record is counted per process (``Peer``). Lines
from an authenticated network sender are taken after the structural checks of
``mplog._listener.welcome``; a sender whose lines fail them is cut off (the loop does it),
unless its spool holds lines formatted before this listener's handlers changed: those are
written as records.
"""

from __future__ import annotations

import logging
from typing import Any

from mplog import _frames, _protocol
from mplog._lineplan import take_dests
from mplog._listener.peers import Peer
from mplog._listener.welcome import Welcome
from mplog._outputs.router import Router
from mplog._worker.context import stamp


class Writer:
    """Write what processes send into ``router``'s handlers (``welcome``: what network
    senders were asked for, None without a network)."""

    def __init__(self, router: Router, welcome: Welcome | None) -> None:
        self._router = router
        self._welcome = welcome

    def lines(self, peer: Peer, run: _frames.LineRun) -> str | None:
        """Write ``run``; or, for a network sender whose lines this listener does not take,
        why it must be cut off."""
        welcome = self._welcome
        if peer.remote is not None and welcome is not None:
            too_large = welcome.oversized(run, peer.reader.max_frame)
            if too_large is not None:
                return too_large
            why = welcome.misfit(run)
            if why is not None and not peer.stale:
                return why
            if why is not None:
                self._resent(peer, run, why)
                return None
        if run.dests is None:
            peer.count_lines(run, written=self._router.write_lines(run))
        else:
            peer.count_lines(run, written=self._router.write_tagged(run))
        return None

    def _resent(self, peer: Peer, run: _frames.LineRun, why: str) -> None:
        """A stale sender's lines that do not fit this plan: written as records."""
        assert self._welcome is not None
        firsts, records = self._welcome.as_records(run)
        if not peer.stale_lines:
            self.report(
                logging.WARNING,
                f"process {peer.pid} at {peer.remote} sent again lines formatted before this "
                f"listener's handlers changed ({why}); they are written as records",
                origin=peer,
            )
        peer.stale_lines += len(records)
        written = True
        for record in records:
            record.process, record.processName = peer.pid, peer.name
            written = self._router.handle(record) and written
        peer.count_lines(firsts, written=written)

    def record(self, peer: Peer, fields: dict[str, Any]) -> None:
        """Write the record ``fields`` (decoded) that ``peer`` sent."""
        # Only a sender trusted with lines routes its records itself (a local process, or
        # a network sender sent the plan); for others it is an attribute.
        counted, only = take_dests(fields) if peer.lines else (False, None)
        record = _protocol.make_record(fields)
        if not counted:
            peer.received += 1
            peer.levels[record.levelname] += 1
        if self._router.handle(record, only):
            peer.written += not counted
        elif counted:  # its lines were written, but not by every handler
            peer.written -= 1

    def report(self, level: int, message: str, *, origin: Peer | None = None) -> None:
        """Log a record of the listener's own through the same handlers (as coming from
        ``origin``'s process when given)."""
        record = logging.LogRecord("mplog", level, __file__, 0, message, None, None)
        if origin is not None:
            record.process, record.processName = origin.pid, origin.name
        stamp(record)  # formats may name %(task_id)s and the like
        self._router.handle(record)
