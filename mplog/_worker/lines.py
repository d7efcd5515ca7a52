"""Formatting and routing a record for the listener's handlers, inside the process that logged.

With a line plan (``mplog._lineplan``, sent by the listener in the ``WorkerConfig``), a process
does the handlers' work itself, the way the listener would have done it with the record it
receives: it routes the record by logger name (``propagate``) and handler level, formats it
once per distinct formatter, encodes each line as its handler would, and ships the lines
tagged with their handler's index. The listener then only appends bytes. What a record
becomes is a ``_protocol.Shipment`` (its first line and its output, then the frames of the
rest), which the process's stream writes in one write: on a pipe a record of one line as a
plain line (``Stream.send_shipment``; see ``mplog._frames``), anything else framed.

The line is formatted from the record *as the listener would receive it* (the fields of
``_protocol.wire_fields``: the message rendered, ``extra=`` objects as text, an exception as
its traceback text), so it is byte for byte the line the record path writes. A text format
that names only attributes whose value is the same either way (every standard one but
``msg``, ``args``, ``exc_info`` and ``exc_text``; pool fields holding plain values) formats
the record as it is, as the single-format line path does, which saves rebuilding it. So
does a JSON line whose fields are all plain values (``JsonFormatter.plain_line``, which checks
that while it writes the line); its pool fields (worker index, task, host) are then not stamped
on the record but appended as text written once per task. A record that reaches what the
plan says a process cannot reproduce (a custom handler or formatter, a logger's filters)
goes to the listener whole, as on the record path, for all the handlers it reaches; a line
whose formatting or encoding fails (the listener then reports the error as it always did)
goes as a record frame naming the handlers it is for.
"""

from __future__ import annotations

import logging
import marshal
import re
import string
import time

from mplog import _protocol
from mplog._lineplan import DESTS_FIELD, MORE, RECORD, JsonFormat, LinePlan, TextFormat
from mplog._protocol import NO_LINE
from mplog._settings import EXC_FIELD, POOL_FIELDS, STANDARD_ATTRIBUTES
from mplog._worker.context import pool_items, stamp, stamp_needed, unstamped_pool
from mplog._worker.formatting import LineFormatter

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

    from mplog._protocol import Shipment

#: Attributes whose value is the same in the process and in the listener's record.
#: (``exc_text`` is set on the wire before formatting, and only during it here.)
_SAME = (STANDARD_ATTRIBUTES - {"msg", "args", "exc_info", "exc_text", EXC_FIELD}) | {
    "message",
    "asctime",
}
_STANDARD = STANDARD_ATTRIBUTES
_PERCENT_NAME = re.compile(r"%\(([^)]*)\)")

#: What a handler's line is formatted from: the record as it is (a text format naming only
#: fields that are the same on the wire), the record as it is if its extras are plain and it
#: has no exception (JSON), the record as the listener would receive it; or the handler
#: needs the record itself.
_DIRECT, _JSON, _WIRE, _RECORD = range(4)
#: The logger has filters, or a handler that needs the record takes it: the record takes the
#: record path whole (the listener formats every handler's line from it). Shipping the other
#: handlers' lines beside the record cost more on both sides, a plain file beside a custom
#: handler: worker 8.1-8.8 -> 4.1-4.3 µs, listener 13.1-13.5 -> 11.2-11.8 µs per record
#: (``python -m benchmarks.listener_cpu --only mixed --reps 5``, twice, alternating): the
#: listener decodes the record either way, and a line between two record frames is a
#: write of its own.
_WHOLE = 9
#: (output index, level, format index, terminator, encoding, errors, one of the above)
Step = tuple[int, int, int, str, str, str, int]


#: What a record of one logger and level takes: the handlers' steps, what the most demanding
#: of them needs, and the pool fields the direct formats name.
_Taken = tuple[tuple[Step, ...], int, frozenset[str]]


def _as_it_is(record: logging.LogRecord, mode: int, pool: frozenset[str]) -> int:
    """``mode`` if ``record`` can be formatted as it is (stamped as its formats need),
    else ``_WIRE``."""
    if mode == _JSON:
        stamp(record)  # JSON lines hold every field
        return _WIRE if record.exc_info or not _plain_extras(record) else _JSON
    if pool and not _plain_names(record, pool):
        return _WIRE
    if stamp_needed(bool(pool)):
        stamp(record)
    return _DIRECT


def _plain_names(record: logging.LogRecord, names: frozenset[str]) -> bool:
    """Whether the attributes ``names`` of ``record`` are absent or plain values (an
    ``extra=`` of a pool field's name may hold anything)."""
    attributes = record.__dict__
    plain = _protocol.PLAIN
    return all(type(attributes[n]) in plain for n in names if n in attributes)


#: The non-standard attribute names of the record shapes seen (attribute names, in order).
_extra_names: dict[tuple[str, ...], tuple[str, ...]] = {}


def _plain_extras(record: logging.LogRecord) -> bool:
    """Whether every ``extra=``, context and pool field of ``record`` travels unchanged."""
    attributes = record.__dict__
    shape = tuple(attributes)
    names = _extra_names.get(shape)
    if names is None:
        if len(_extra_names) >= 256:  # many shapes (extras varying per call): start over
            _extra_names.clear()
        names = _extra_names[shape] = tuple(k for k in shape if k not in _STANDARD)
    plain = _protocol.PLAIN
    return all(type(attributes[name]) in plain for name in names)


def make_formatter(spec: TextFormat | JsonFormat) -> logging.Formatter:
    """The formatter a plan's format describes."""
    if isinstance(spec, JsonFormat):
        # Imported here: only processes of a JSON destination load the JSON encoder.
        from mplog._outputs.jsonlines import JsonFormatter

        static = dict(spec.static)
        return JsonFormatter(
            utc=spec.utc, timespec=spec.timespec, encoder=spec.encoder, static=static
        )
    defaults = None if spec.defaults is None else dict(spec.defaults)
    formatter = LineFormatter(spec.fmt, spec.datefmt, spec.style, defaults)
    formatter.converter = time.gmtime if spec.converter == "gmtime" else time.localtime
    formatter.default_time_format = spec.default_time_format
    formatter.default_msec_format = spec.default_msec_format
    return formatter


def named_fields(spec: TextFormat) -> frozenset[str] | None:
    """The record attributes a text format names (None: it cannot be told)."""
    try:
        if spec.style == "%":
            return frozenset(_PERCENT_NAME.findall(spec.fmt))
        if spec.style == "{":
            names = (f for _, f, _, _ in string.Formatter().parse(spec.fmt) if f is not None)
            return frozenset(re.split(r"[.\[]", f, maxsplit=1)[0] for f in names)
        found = string.Template.pattern.finditer(spec.fmt)
        return frozenset(m.group("named") or m.group("braced") or "" for m in found) - {""}
    except ValueError:
        return None


class PlanLines:
    """What one record becomes under a line plan: its lines and frames."""

    def __init__(self, plan: LinePlan) -> None:
        self.plan = plan
        self._formatters = [make_formatter(spec) for spec in plan.formats]
        #: Per format: the pool fields it names, when it can format the record as it is.
        self._direct: list[frozenset[str] | None] = []
        for spec in plan.formats:
            names = named_fields(spec) if isinstance(spec, TextFormat) else None
            pool = None if names is None else names & set(POOL_FIELDS)
            direct = names is not None and pool is not None and names <= (_SAME | pool)
            self._direct.append(pool if direct else None)
        #: Per format: whether it writes JSON lines of plain records itself (``plain_line``);
        #: a JSON format that does not (orjson) writes those of bare records (``bare_line``).
        self._plain = [getattr(f, "writes_plain", False) for f in self._formatters]
        #: Per format: the pool fields' JSON text and the objects it was written from.
        self._pool_text: list[tuple[Any, Any, Any] | None] = [None] * len(plan.formats)
        self._chains: dict[str, tuple[tuple[Step, ...], bool]] = {}
        self._taken: dict[tuple[str, int], _Taken] = {}

    def ship(self, record: logging.LogRecord) -> Shipment | None:
        """What ``record`` becomes (a ``_protocol.Shipment``, which the stream writes plain
        or framed): its line for the first handler it reaches, then the frames of its lines
        for the others (tagged ``MORE``) and a record frame for those whose line failed; the
        record whole if a handler needs it (or its logger has filters); None if no handler
        takes it."""
        key = (record.name, record.levelno)
        steps, mode, pool = self._taken.get(key) or self._take(key)
        if mode == _WHOLE:  # filters, or a handler that needs the record: the listener's work
            stamp(record)
            frame = _protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record))
            return (record.levelno, NO_LINE, b"", frame)
        if not steps:
            return None
        if mode <= _JSON:
            if mode == _JSON and len(steps) == 1:  # JSON lines: the common case, shortest
                shipment = self._plain_json(record, steps[0])
                if shipment is not None:
                    return shipment
            mode = _as_it_is(record, mode, pool)
            if mode <= _JSON and len(steps) == 1:  # the common case, kept short
                shipment = self._single(record, steps[0])
                if shipment is not None:
                    return shipment
        fields = None
        if mode >= _WIRE:
            stamp(record)
            fields = _protocol.wire_fields(record)
        return self._lines(record, fields, steps)

    def _single(self, record: logging.LogRecord, step: Step) -> Shipment | None:
        """The one line of ``record``, formatted as it is; None if formatting or encoding
        fails (the general path then sends the record for the listener to report it)."""
        index, _, fmt, terminator, encoding, errors, _ = step
        try:
            data = (self._formatters[fmt].format(record) + terminator).encode(encoding, errors)
        except Exception:
            return None
        return (record.levelno, index, data, b"")

    def _plain_json(self, record: logging.LogRecord, step: Step) -> Shipment | None:
        """``record``'s JSON line when every field is a plain value and it has
        no exception (``JsonFormatter.plain_line``: the line is then the same on the wire),
        checked while the line is written; None otherwise (the general way decides). With
        orjson, the same for a record with no extras (``JsonFormatter.bare_line``)."""
        index, _, fmt, terminator, encoding, errors, _ = step
        formatter: Any = self._formatters[fmt]
        # JSON lines hold every field. The pool fields' text is the same for every record
        # of a task: written once, appended to the line rather than stamped and encoded.
        tail = None
        pool = unstamped_pool(record)
        if pool is not None:
            cached = self._pool_text[fmt]
            if cached is not None and cached[0] is pool[0] and cached[1] is pool[1]:
                tail = cached[2]
            else:
                items = pool_items(*pool)
                text = formatter.fields_text(items)  # None: not plain, or a name taken
                tail = None if text is None else (text, items)
                self._pool_text[fmt] = None if tail is None else (*pool, tail)
        if tail is None:
            stamp(record)
        if self._plain[fmt]:
            line = formatter.plain_line(record, "" if tail is None else tail[0])
        else:
            line = None if tail is None else formatter.bare_line(record, tail[1])
        if line is None:
            return None
        try:
            data = (line + terminator).encode(encoding, errors)
        except (ValueError, LookupError):  # the listener reports it, as for any line
            return None
        return (record.levelno, index, data, b"")

    def _take(self, key: tuple[str, int]) -> _Taken:
        """The steps a record of this logger and level takes, what they need, and the pool
        fields their direct formats name (computed once per logger and level)."""
        steps, filtered = self._chains.get(key[0]) or self._chain(key[0])
        taken = tuple(step for step in steps if key[1] >= step[1])
        mode = max((step[6] for step in taken), default=_DIRECT)
        if filtered or mode == _RECORD:
            mode = _WHOLE
        direct = [self._direct[s[2]] or frozenset() for s in taken if s[6] == _DIRECT]
        if len(self._taken) >= 4096:  # logger names made up per call: start over
            self._taken.clear()
        result = self._taken[key] = (taken, mode, frozenset().union(*direct))
        return result

    def _lines(
        self, record: logging.LogRecord, fields: dict[str, Any] | None, taken: tuple[Step, ...]
    ) -> Shipment:
        wire = None if fields is None else _protocol.make_record(fields)
        texts: dict[int, str | None] = {}
        first: tuple[int, bytes] | None = None  # the first line: its output, its bytes
        frames: list[bytes] = []  # the later lines' frames, tagged MORE
        others: list[int] = []
        for index, _, fmt, terminator, encoding, errors, how in taken:
            if fmt not in texts:
                self._format(texts, fmt, record if wire is None or how == _DIRECT else wire)
            text = texts[fmt]
            try:
                if text is None:
                    raise ValueError
                data = (text + terminator).encode(encoding, errors)
            except (ValueError, LookupError):  # as UnicodeEncodeError: the listener reports it
                others.append(index)
                continue
            if first is None:
                first = (index, data)
            else:
                frames.append(_protocol.dest_line_frame(record.levelno, index | MORE, data))
        if others:  # lines that failed: the listener formats them and reports the error
            stamp(record)
            fields = _protocol.wire_fields(record)  # anew: the formatters wrote into those
            fields[DESTS_FIELD] = [0 if first is None else 1, *others]
            frames.append(_protocol.frame(_protocol.KIND_RECORD, marshal.dumps(fields)))
        output, line = first or (NO_LINE, b"")
        return (record.levelno, output, line, b"".join(frames))

    def _format(self, texts: dict[int, str | None], fmt: int, record: logging.LogRecord) -> None:
        try:
            texts[fmt] = self._formatters[fmt].format(record)
        except Exception:  # e.g. a %(field)s the record lacks: the listener reports it
            texts[fmt] = None

    def _chain(self, name: str) -> tuple[tuple[Step, ...], bool]:
        indices, filtered = self.plan.chain(name)
        outputs = self.plan.outputs
        steps = []
        for i in indices:
            o = outputs[i]
            if o.format == RECORD:
                how = _RECORD
            elif isinstance(self.plan.formats[o.format], JsonFormat):
                how = _JSON
            else:
                how = _WIRE if self._direct[o.format] is None else _DIRECT
            steps.append((i, o.level, o.format, o.terminator, o.encoding, o.errors, how))
        chain = self._chains[name] = (tuple(steps), filtered)
        return chain
