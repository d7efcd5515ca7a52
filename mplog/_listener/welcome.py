"""What the listener tells an authenticated network sender, and what it takes from it back.

Listener side only. A network sender that proved the key (and passed TLS, if required) may
write into the log anyway (any record text it likes), so it is trusted to format lines like
a local process: the listener's welcome carries its line format (the single-format file) or
its line plan (``mplog._lineplan.to_data``), as plain data, never pickled. The sender then
ships ``KIND_LINE`` or ``KIND_DEST_LINE`` frames, which the listener appends as they are,
after structural checks only (:meth:`Welcome.refusal`): the kind of line it was told to send,
no line over the frame size limit, every handler index within the plan. The level of a line
is a 16-bit field by construction (and only decides which handlers take it).

A sender's hello names the plan its spooled frames were formatted with (``digest``): after
the listener restarted with other handlers, the lines it sends again may not fit the new
plan. Those are written as records (:meth:`Welcome.as_records`: the line's text as the
message), not lost, and not a reason to cut the sender off.
"""

from __future__ import annotations

import logging

from mplog import _frames, _protocol
from mplog._lineplan import MORE, digest, to_data
from mplog._listener.peers import Peer
from mplog._outputs.plan import records_forced
from mplog._outputs.router import Router
from mplog._settings import LineFormat


class Welcome:
    """The welcome of a listener whose handlers are ``router``'s (``line_format``: that of
    its single-format file, when its processes ship lines of one format)."""

    def __init__(self, router: Router, line_format: LineFormat | None) -> None:
        plan = router.plan
        self._single = line_format is not None and router.takes_lines and not records_forced()
        self._outputs = 0 if plan is None or self._single else len(plan.outputs)
        if self._single:
            assert line_format is not None
            data: dict[str, object] | None = {"line_format": list(line_format)}
        else:
            data = None if plan is None else {"plan": to_data(plan)}
        try:
            body = b"" if data is None else _protocol.encode(data)
        except ValueError:  # a default or static field marshal cannot carry: records then
            body, self._single, self._outputs = b"", False, 0
        #: The welcome frame (an empty body: send records).
        self.frame = _protocol.frame(_protocol.KIND_WELCOME, body)
        #: The fingerprint of what network senders are asked to format lines with.
        self.digest = digest(line_format if self._single else None, plan if self._outputs else None)

    @property
    def lines(self) -> bool:
        """Whether network senders are asked for lines."""
        return self._single or self._outputs > 0

    def greet(self, peer: Peer, hello: dict[str, object]) -> None:
        """Send ``peer``, which has just proved the key, this welcome: it may send lines
        from now on (and, if its ``hello`` names another plan, resend stale ones)."""
        peer.send_quietly(self.frame)
        peer.stale = "plan" in hello and hello["plan"] != self.digest
        peer.lines = peer.lines or peer.stale or self.lines

    @staticmethod
    def oversized(run: _frames.LineRun, max_frame: int | None) -> str | None:
        """Why ``run`` is too large to take, or None."""
        if max_frame is not None and max(map(len, run.lines)) > max_frame:
            return f"a line over the frame size limit of {max_frame} bytes"
        return None

    def misfit(self, run: _frames.LineRun) -> str | None:
        """Why ``run`` (from an authenticated network sender) does not fit this plan, or None."""
        if (run.dests is None) != self._single:
            return "finished lines of a kind this listener did not ask for"
        if run.dests is not None:
            bad = [d for d in set(run.dests) if d & ~MORE >= self._outputs]
            if bad:
                return f"lines for handler {bad[0] & ~MORE}, of {self._outputs} in the plan"
        return None

    @staticmethod
    def as_records(run: _frames.LineRun) -> tuple[_frames.LineRun, list[logging.LogRecord]]:
        """The records of ``run``'s lines (a record's later lines left out), and the run of
        their first lines (for the counts)."""
        dests = run.dests or [0] * len(run.lines)
        firsts = [i for i, dest in enumerate(dests) if dest < MORE]
        levels = [run.levels[i] for i in firsts]
        records = [
            logging.LogRecord(
                "mplog.resent",
                levels[n],
                __file__,
                0,
                bytes(run.lines[i]).decode("utf-8", "replace").rstrip("\r\n"),
                None,
                None,
            )
            for n, i in enumerate(firsts)
        ]
        return _frames.LineRun(levels, [run.lines[i] for i in firsts]), records
