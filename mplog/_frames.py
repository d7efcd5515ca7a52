"""Reading a stream of frames: split what a read brought into frames and runs of lines.

On a local pipe (a process of this machine writing into the listener's pipe), the common
record is a *plain line*: its UTF-8 text and a newline, with no header. A frame there follows
a NUL byte, which no plain line holds, and the level of the plain lines is set by a
``KIND_LEVEL`` frame whenever it changes::

    <line>\\n <line>\\n \\0<KIND_LEVEL 30> <line>\\n \\0<KIND_RECORD ...> <line>\\n ...

so a run of plain lines is found and counted by ``bytes.find`` / ``rfind`` / ``count``, with no
Python work per line: 0.29 -> 0.05 µs per line in the listener (900 lines of 130 bytes per
read), and the process that logged skips the header's ``struct`` (0.25 -> 0.14 µs). A line
holding a newline (an exception's) or a NUL travels in a ``KIND_LINE`` frame, as on a socket.

A line plan's lines (JSON, ``handlers=``, dictConfig: ``mplog._worker.lines``) travel the
same way: a ``KIND_DEST`` frame gives the level *and the plan output* of the plain lines
after it (a ``KIND_LEVEL`` frame clears the output: single-format lines again). A record of
one line goes plain when its encoded bytes end with their only newline and hold no NUL; a
line that cannot be plain (an inner newline, another terminator, UTF-16) and a record of
more (lines for other outputs, tagged ``MORE``, or a record frame for the listener's own
handlers) go whole in ``KIND_DEST_LINE`` and record frames, in one write (their first line
plain cost the listener more per record than their frames: 1.64-2.11 against 1.39-1.56 µs
at two outputs). A run of plain lines for one output is one view (``LineRun`` with
``dests=[output]``), written in one write. Plain lines among tagged frames (levels mixing
one-line and several-line records) join the run of tagged lines, one element each
(``LineRun.bare`` counts them, for the bytes left unread at stop), so that a read is still
one write per output (at INFO:WARNING 3:1 with two outputs 0.87-0.95 -> 0.93-1.03 µs; as a
run per block of plain lines, 2.5-3.0). Listener CPU per record for one output,
``benchmarks.listener_cpu --reps 5`` (medians; two runs each, alternating with the framed
lines of before): json 0.81, 0.88 -> 0.42, 0.45 µs; handlers 0.63, 0.65 -> 0.17, 0.17;
dictconfig 0.63, 0.63 -> 0.17, 0.22; rotating (one record per element for its
``append_lines``) 0.64, 0.64 -> 0.32, 0.33. Sockets (network senders, and a process's hello)
carry frames only.
"""

from __future__ import annotations

from mplog._lineplan import MORE
from mplog._protocol import (
    DEST,
    DEST_HEADER,
    DEST_SIZE,
    HEADER,
    KIND_DEST,
    KIND_DEST_LINE,
    KIND_LEVEL,
    KIND_LINE,
    KIND_RECORD,
    LINE_HEADER,
    LINE_LEVEL,
    FrameTooLarge,
)

#: A frame's kind that no sender writes: what the reader makes of bytes that break the
#: plain-line rules, for the listener to refuse like any frame it does not accept.
KIND_BROKEN = 0


class LineRun:
    """Finished lines that came one after another on one stream, with their levels (and, for
    lines of the line plan, the output each is for, as tagged). A run of plain lines is one
    view of all of them, with their one level (and output), and ``records`` says how many."""

    __slots__ = ("bare", "dests", "levels", "lines", "records")

    def __init__(
        self,
        levels: list[int],
        lines: list[memoryview],
        dests: list[int] | None = None,
        records: int | None = None,
    ) -> None:
        self.levels = levels
        self.lines = lines
        self.dests = dests
        #: For a run of plain lines, how many (None: one line per level).
        self.records = records
        #: Of a run of tagged lines, how many came as plain lines (no frame header).
        self.bare = 0

    @property
    def plain(self) -> bool:
        """Whether this is a run of plain lines (one view, one level)."""
        return self.records is not None

    def count(self) -> int:
        """How many records the run holds (a record's later lines, tagged ``MORE``, are not
        counted: its first line is)."""
        if self.records is not None:
            return self.records
        if self.dests is None:
            return len(self.levels)
        return sum(1 for dest in self.dests if dest < MORE)


#: The bodies of record frames that came one after another on one stream (views): a list.
RecordRun = list[memoryview]
Frame = tuple[int, bytes]
Item = Frame | LineRun | RecordRun


class FrameReader:
    """Split a byte stream into frames; keeps a partial frame until the rest arrives.

    ``plain`` (set when a process passes its pipe): the stream also carries plain lines, and
    a NUL before each frame (see the module's docstring)."""

    def __init__(self, max_frame: int | None = None) -> None:
        #: The largest frame body taken (None: any); a longer one raises FrameTooLarge
        #: before it is buffered.
        self.max_frame = max_frame
        self.plain = False
        self._level: int | None = None  # of the plain lines, from the last KIND_LEVEL frame
        self._output: int | None = None  # their plan output, from the last KIND_DEST frame
        self._partial = bytearray()
        self._needed = 0  # bytes the partial frame needs before it is worth parsing again

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF means a torn frame)."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return every frame it completes, as ``(kind, body)``."""
        buffer = self._join(data)
        return [] if buffer is None else self._split(buffer, False)  # type: ignore[return-value]

    def feed_runs(self, data: bytes, *, records: bool = False) -> list[Item]:
        """Like :meth:`feed`, except that consecutive ``KIND_LINE`` frames come as one
        :class:`LineRun`: the listener's hot path, with no Python work per line beyond finding
        where it starts and ends (views of the data, not copies); with ``records``, consecutive
        ``KIND_RECORD`` frames as one :class:`RecordRun` (their bodies, views too)."""
        buffer = self._join(data)
        return [] if buffer is None else self._split(buffer, True, records)

    def _split(  # noqa: PLR0912, PLR0915
        self, buffer: bytes, group_lines: bool, group_records: bool = False
    ) -> list[Item]:
        # One loop, not a call per frame: every frame of every process passes here.
        view = memoryview(buffer)
        size = len(buffer)
        pos = keep = 0
        items: list[Item] = []
        levels: list[int] | None = None
        lines: list[memoryview] = []
        dests: list[int] | None = None
        bodies: RecordRun | None = None
        tagged: LineRun | None = None  # the run levels, lines and dests fill, if tagged
        plain = self.plain
        while True:
            keep = pos
            if plain and pos < size and buffer[pos]:
                open_run = tagged if levels is not None and dests is not None else None
                pos, tagged = self._plain_run(buffer, view, pos, items, open_run)
                if pos == keep:  # a line not whole yet
                    break
                bodies = None
                if tagged is None:
                    levels = None
                else:  # a record's first line, its later lines framed: one run for all
                    levels, lines, dests = tagged.levels, tagged.lines, tagged.dests
                continue
            pos += plain  # on a pipe, the NUL before a frame
            if size - pos >= LINE_HEADER.size:  # one unpack for the common frame
                length, kind, levelno = LINE_HEADER.unpack_from(buffer, pos)
            elif size - pos >= HEADER.size:
                length, kind = HEADER.unpack_from(buffer, pos)
            else:
                break
            end = pos + HEADER.size + length
            if end > size:
                break
            if group_lines and kind == KIND_LINE and length >= LINE_LEVEL.size:
                if levels is None or dests is not None:
                    levels, lines, dests, bodies = [], [], None, None
                    items.append(LineRun(levels, lines))
                levels.append(levelno)
                lines.append(view[pos + LINE_HEADER.size : end])
            elif group_lines and kind == KIND_DEST_LINE and length >= 4:
                if levels is None or dests is None:
                    levels, lines, dests, bodies = [], [], [], None
                    tagged = LineRun(levels, lines, dests)
                    items.append(tagged)
                levels.append(levelno)
                dests.append(DEST.unpack_from(buffer, pos + LINE_HEADER.size)[0])
                lines.append(view[pos + DEST_HEADER.size : end])
            elif kind == KIND_RECORD and group_records:
                if bodies is None:
                    levels, dests, bodies = None, None, []
                    items.append(bodies)
                bodies.append(view[pos + HEADER.size : end])
            elif plain and kind == KIND_LEVEL and length == LINE_LEVEL.size:
                self._level, self._output = levelno, None
            elif plain and kind == KIND_DEST and length == LINE_LEVEL.size + DEST_SIZE:
                self._level = levelno
                self._output = DEST.unpack_from(buffer, pos + LINE_HEADER.size)[0]
            else:
                levels = dests = bodies = None
                items.append((kind, buffer[pos + HEADER.size : end]))
            pos = end
        self._keep(buffer[keep:])
        return items

    def _plain_run(
        self, buffer: bytes, view: memoryview, pos: int, items: list[Item], tagged: LineRun | None
    ) -> tuple[int, LineRun | None]:
        """Add the plain lines at ``pos`` as one run; return where they end (``pos`` if no
        line is whole yet) and the run of tagged lines left open. One line for a plan
        output opens a run of tagged lines, or joins ``tagged`` (the open one before it), as
        do several: records between framed ones (for several outputs) make one run with
        them, one write per output and read. What breaks the rules (a line cut by a frame,
        lines before any level) becomes a ``KIND_BROKEN`` frame and ends the stream's
        reading."""
        stop = buffer.find(b"\0", pos)
        last = buffer.rfind(b"\n", pos, len(buffer) if stop < 0 else stop)
        end = last + 1
        if last < 0 and stop < 0:
            return pos, tagged
        level, output = self._level, self._output
        if (end != stop and stop >= 0) or level is None:
            items.append((KIND_BROKEN, b""))
            self.plain = False  # the rest is not read as lines: the listener cuts it off
            return len(buffer), None
        count = buffer.count(b"\n", pos, end)
        if output is None or (count > 1 and tagged is None):
            dests = None if output is None else [output]
            items.append(LineRun([level], [view[pos:end]], dests, count))
            return end, None
        if tagged is None:
            tagged = LineRun([], [], [])
            items.append(tagged)
        _tag(tagged, buffer, view, pos, end, count, level, output)
        return end, tagged

    def _join(self, data: bytes) -> bytes | None:
        """The bytes to parse: the held-back partial frame plus ``data``; None while that
        frame is still incomplete (so a large frame arriving in pieces costs linear time)."""
        if not self._partial:
            return bytes(data)
        self._partial += data
        if len(self._partial) < self._needed or (self._needed < 0 and b"\n" not in data):
            return None
        buffer = bytes(self._partial)
        self._partial.clear()
        return buffer

    def _keep(self, rest: bytes) -> None:
        at = 1 if self.plain else 0  # the NUL before a frame
        if at and rest[:1] != b"\0":
            needed = -1 if rest else 0  # a plain line: until its newline comes
        elif len(rest) >= at + HEADER.size:
            needed = at + HEADER.size + HEADER.unpack_from(rest, at)[0]
        else:
            needed = at + HEADER.size
        # Checked here, once per read, not per frame: a complete frame is no larger than the
        # read that brought it; only an incomplete one would be buffered.
        if self.max_frame is not None and needed > at + HEADER.size + self.max_frame:
            raise FrameTooLarge(
                f"a frame of {needed - at - HEADER.size} bytes, over the limit of {self.max_frame}"
            )
        self._partial[:] = rest
        self._needed = needed


def _tag(
    run: LineRun,
    buffer: bytes,
    view: memoryview,
    pos: int,
    end: int,
    count: int,
    level: int,
    output: int,
) -> None:
    """Add the ``count`` plain lines from ``pos`` to ``end`` to the run of tagged lines
    ``run``, one element each, as if each had come in its frame (``run.bare`` counts them)."""
    dests = run.dests
    assert dests is not None  # a run of tagged lines
    if count == 1:  # between two records' frames: the common case
        run.levels.append(level)
        run.lines.append(view[pos:end])
        dests.append(output)
    else:  # a line at a time: among frames, no more work than their frames took
        while pos < end:
            stop = buffer.find(b"\n", pos, end) + 1
            run.levels.append(level)
            run.lines.append(view[pos:stop])
            dests.append(output)
            pos = stop
    run.bare += count
