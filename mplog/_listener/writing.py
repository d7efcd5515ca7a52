"""What the listener writes for a process: its lines appended, its records routed, counted.

Listener side only. The loop (``mplog._listener.loop``) reads and splits each stream; what
a process sent then comes here: runs of finished lines go to the router in one write per
handler (``Router.write_lines``, ``Router.write_tagged``), runs of records (decoded in one
loop, a bad frame skipped and counted) to the handlers their logger reaches (or, routed by
the process, those of the plan it names), and the listener's own notices through the same
handlers. Every record is counted per process (``Peer``). Lines from an authenticated network
sender are taken after the structural checks of ``mplog._listener.welcome``; a sender whose
lines fail them is cut off (the loop does it), unless its spool holds lines formatted before
this listener's handlers changed: those are written as records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from marshal import loads as _loads
from typing import Any

from mplog import _frames, _protocol
from mplog._lineplan import DESTS_FIELD as DESTS
from mplog._lineplan import take_dests
from mplog._listener.peers import Peer
from mplog._listener.welcome import Welcome
from mplog._outputs.router import Router
from mplog._worker.context import stamp

#: ``overdue(peer)``: whether stop() cuts ``peer`` off now (``Stopping.overdue``).
Overdue = Callable[[Peer], bool]
_NONE = (False, None)  # a record its process did not route: counted here, by logger name


class Writer:
    """Write what processes send into ``router``'s handlers (``welcome``: what network
    senders were asked for, None without a network)."""

    def __init__(self, router: Router, welcome: Welcome | None) -> None:
        self._router = router
        self._welcome = welcome
        #: Record frames from local processes that could not be decoded (skipped).
        self.rejected = 0

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

    def records(self, peer: Peer, run: _frames.RecordRun, overdue: Overdue) -> int:
        """Decode and write a run of record frames from ``peer`` (a local process) in one
        loop; return how many of them were taken: all, or fewer when ``overdue(peer)`` says,
        between two of them, that stop() cuts ``peer`` off. A frame that cannot be decoded
        is skipped, counted (``rejected``) and reported; the others are written."""
        # One loop per read instead of five calls per frame between the loop and the router
        # (30 Python calls per record instead of 41), no bytes copied per frame (``run`` holds
        # views of the read), one route lookup: listener CPU per record on the record path
        # 7.74 -> 7.06 µs for a handler with its own emit(), 4.67 -> 4.03 µs of the listener's
        # own work (a handler that does nothing), 2.3 µs of it marshal.loads (one call per
        # body: each body's back-references count from its own start, so bodies cannot be
        # decoded in one call). `python -m benchmarks.listener_cpu --reps 5`, medians.
        bad: list[BaseException] | None = None
        last = len(run) - 1
        for index, body in enumerate(run):
            try:
                fields = _loads(body)
                if type(fields) is not dict:
                    raise ValueError(f"a record body holding a {type(fields).__name__}")
                counted, only = take_dests(fields) if DESTS in fields and peer.lines else _NONE
                record = _protocol.make_record(fields)
                if not counted:
                    peer.levels[record.levelname] += 1
                    peer.received += 1
                if self._router.handle(record, only):  # handlers' errors: contained, counted
                    peer.written += not counted
                elif counted:
                    peer.written -= 1
            except (ValueError, EOFError, TypeError, KeyError) as exc:
                bad = [] if bad is None else bad
                bad.append(exc)
                continue
            if index < last and overdue(peer):
                last = index
                break
        if bad:
            self.undecodable(peer, bad, closed=False)
        return last + 1

    def undecodable(self, peer: Peer, errors: list[BaseException], *, closed: bool) -> None:
        """Count and report frames from ``peer`` (a local process) that cannot be decoded:
        record frames of a run are skipped (``closed`` False), others close its connection."""
        self.rejected += len(errors)
        first = f"{type(errors[0]).__name__}: {errors[0]}"
        what = "its connection was closed" if closed else "skipped, its other records written"
        self.report(
            logging.ERROR,
            f"process {peer.pid} ({peer.name}) sent {len(errors)} frame(s) that cannot be "
            f"decoded (the first: {first}); {what}",
        )

    def report(self, level: int, message: str, *, origin: Peer | None = None) -> None:
        """Log a record of the listener's own through the same handlers (as coming from
        ``origin``'s process when given)."""
        record = logging.LogRecord("mplog", level, __file__, 0, message, None, None)
        if origin is not None:
            record.process, record.processName = origin.pid, origin.name
        stamp(record)  # formats may name %(task_id)s and the like
        self._router.handle(record)
