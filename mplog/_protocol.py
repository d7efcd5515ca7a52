"""The wire format between logging processes and the listener.

A stream carries frames: a 5-byte header (body length, frame kind) and a body. Record bodies
are ``marshal``-encoded dicts of plain values (str, int, float, bool, None, bytes and lists,
tuples and dicts of them). Anything else a record carries (``args``, ``exc_info``, ``extra=``
objects) is rendered to text *in the process that logged*, so that:

* encoding never fails and never raises into the logging call (no pickling errors surfacing in
  a feeder thread, no silently lost record);
* decoding in the listener never fails either, and never runs code: no class has to be
  importable there, and nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import struct
from collections.abc import Iterable, Mapping

from mplog._settings import EXC_FIELD

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

HEADER = struct.Struct("!IB")
#: A process introduces itself: pid, name, role and the listener's token.
KIND_HELLO = 1
#: One log record.
KIND_RECORD = 2
#: The controller asks the listener to drain everything and stop.
KIND_STOP = 3
#: The listener's answer to ``KIND_STOP`` or ``KIND_STATS``: its statistics.
KIND_REPLY = 4
#: A process closes its stream on purpose (a stream that ends without it is a death).
KIND_BYE = 5
#: The controller asks for the current statistics.
KIND_STATS = 6
#: A record already formatted by the process that logged it: level number, then the line.
KIND_LINE = 7
#: Logger levels changed: pushed by the listener to every process (and asked for by the
#: controller).
KIND_LEVELS = 8
#: A process announces that it is about to end some of its children on purpose.
KIND_EXITING = 9
#: Carries (as SCM_RIGHTS) the read end of the pipe the process's frames go into from now on.
KIND_PIPE = 10
#: The listener, while draining at stop, tells the controller that it is still handling
#: records (so the controller keeps waiting for slow handlers).
KIND_PROGRESS = 11
#: A process reports the records it dropped since its last report, per level name.
KIND_DROPPED = 12
#: The listener's first frame on a network connection: a random challenge the sender answers
#: in its hello with :func:`answer` (the key itself never travels).
KIND_CHALLENGE = 13
#: The listener's answer to a network hello that proved the key (a refused one is closed).
KIND_WELCOME = 14
#: From the supervisor: reopen the destination's files (after an external rotation).
KIND_REOPEN = 15
#: The listener tells a network sender which of its frames it has handled: the sequence
#: number of the last one (``ACK``). The sender drops them from its spool.
KIND_ACK = 16
ACK = struct.Struct("!Q")
#: A finished line for one handler of the listener's line plan (``mplog._lineplan``): level
#: number, the handler's index (plus ``MORE`` on a record's later lines), then the bytes.
KIND_DEST_LINE = 17
#: On a pipe (see ``mplog._frames``): the level of the plain lines that follow, in a line's
#: header (no text).
KIND_LEVEL = 18
LINE_LEVEL = struct.Struct("!H")
#: On a pipe: the level and the line plan's output of the plain lines that follow, in a
#: tagged line's header (no text); a ``KIND_LEVEL`` frame clears the output.
KIND_DEST = 19
_ANSWER_PREFIX = b"mplog-hello-v1:"
#: A line's header: size, kind, level (the frame reader unpacks it for every frame at once).
LINE_HEADER = struct.Struct("!IBH")
DEST_HEADER = struct.Struct("!IBHH")
DEST = struct.Struct("!H")
#: Bytes a tagged line's frame has before its text beyond a line's (the handler's index).
DEST_SIZE = DEST.size
#: Bytes before a line's text in its frame.
LINE_HEADER_SIZE = LINE_HEADER.size
#: What a process ships for a record: its level, the plan output of its first line, that
#: line (encoded, terminator included), and the frames after it (its later lines, a record
#: frame); the output ``NO_LINE`` when there is no line, only the frames.
Shipment = tuple[int, int, bytes, bytes]
NO_LINE = -1

_PLAIN = frozenset({str, int, float, bool, type(None), bytes})
#: The types a record attribute travels as, unchanged.
PLAIN = _PLAIN
#: Nesting deeper than this is cut off with the ``repr()`` of what is left, on the wire and
#: in JSON lines alike (cycles included).
MAX_DEPTH = 16
_EXC_FORMATTER = logging.Formatter()


def frame(kind: int, body: bytes) -> bytes:
    """Return one frame: header plus body."""
    return HEADER.pack(len(body), kind) + body


def encode(obj: dict[str, Any]) -> bytes:
    """Encode a dict of plain values (see :func:`plain`)."""
    return marshal.dumps(obj)


def decode(body: bytes) -> dict[str, Any]:
    """Decode a body written by :func:`encode`."""
    obj = marshal.loads(body)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a dict in the frame body, got {type(obj).__name__}")
    return obj


def answer(key: bytes, challenge: bytes) -> str:
    """The proof that a sender holds ``key``: HMAC-SHA256 of the listener's challenge."""
    import hashlib  # network connections only: loading OpenSSL costs a spawned worker 2 ms
    import hmac

    return hmac.new(key, _ANSWER_PREFIX + challenge, hashlib.sha256).hexdigest()


class FrameTooLarge(ValueError):
    """A frame announced a length over the reader's limit."""


def safe_repr(value: object) -> str:
    """``repr(value)``, or a placeholder naming its type when ``__repr__`` itself raises."""
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not cost the record
        return f"<unrepresentable {type(value).__name__} object: {type(exc).__name__}>"


def plain(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as plain data the wire can carry, rendering other objects as text.

    A record attribute (``depth`` 0) becomes ``str(value)``, the text ``%(name)s`` would have
    shown in the process that logged it; inside a list or dict, ``repr``, as ``str()`` of the
    container would show it.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if depth < MAX_DEPTH:
        if kind is list or kind is tuple:
            return kind(plain(item, depth + 1) for item in value)
        if kind is dict:
            return {
                (k if type(k) in _PLAIN else safe_repr(k)): plain(v, depth + 1)
                for k, v in value.items()
            }
    return safe_str(value) if depth == 0 else safe_repr(value)


def safe_str(value: object) -> str:
    """``str(value)``, or its :func:`safe_repr` when ``__str__`` raises."""
    try:
        return str(value)
    except Exception:
        return safe_repr(value)


def render_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or, when it raises, the message formatted with a placeholder
    for each argument that cannot be shown (so it keeps the shape of its format, for grep
    and parsers); a format that fails by itself (wrong number of arguments, a bad ``%``
    code) gives ``repr(msg) % (args...)`` and the reason."""
    try:
        return record.getMessage()
    except Exception as exc:
        error = exc
    args = record.args
    if args and isinstance(record.msg, str):
        with contextlib.suppress(Exception):
            return str(record.msg % _shown(args))
    shown = (
        "(" + ", ".join(safe_repr(a) for a in args) + ")"
        if isinstance(args, tuple)
        else safe_repr(args)
    )
    return (
        f"{safe_repr(record.msg)} % {shown} "
        f"[mplog: message formatting failed: {type(error).__name__}]"
    )


class _Shown:
    """Stands for an argument whose ``str()`` or ``repr()`` raises, showing what can be."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return safe_str(self.value)

    def __repr__(self) -> str:
        return safe_repr(self.value)


def _shown(args: Any) -> Any:
    """``args`` with every value whose ``str()`` or ``repr()`` raises replaced by a stand-in."""
    if isinstance(args, Mapping):
        return {key: _stand_in(value) for key, value in args.items()}
    return tuple(_stand_in(value) for value in args)


def _stand_in(value: object) -> object:
    try:
        str(value)
        repr(value)
    except Exception:
        return _Shown(value)
    return value


def record_body(record: logging.LogRecord) -> bytes:
    """Encode a copy of ``record`` for the wire; the caller's record is left untouched."""
    return marshal.dumps(wire_fields(record))


def wire_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of ``record`` as the wire carries them (and so as the listener's record
    has them): the message rendered, plain values only, an exception as its text."""
    fields = record.__dict__.copy()
    fields["msg"] = render_message(record)
    fields["args"] = None
    fields.pop("message", None)
    if record.exc_info:
        fields["exc_text"] = record.exc_text or _EXC_FORMATTER.formatException(record.exc_info)
        error = record.exc_info[1]
        if error is not None:  # the structure too, for JSON and error trackers
            from mplog._exceptions import summarize  # a record with an exception only

            fields[EXC_FIELD] = summarize((type(error), error, record.exc_info[2]))
        fields["exc_info"] = None
    for key, value in fields.items():
        if type(value) not in _PLAIN:
            fields[key] = plain(value)
    return fields


def line_frame(levelno: int, line: str) -> bytes:
    """The frame of a finished line (a newline is added): header, level of its record, UTF-8."""
    data = (line + "\n").encode("utf-8", "backslashreplace")
    try:
        header = LINE_HEADER.pack(len(data) + LINE_LEVEL.size, KIND_LINE, levelno)
    except struct.error:
        # The level only decides which destinations take the line: a custom level outside
        # the field's range is clamped rather than costing the record.
        level = min(max(int(levelno), 0), 0xFFFF)
        header = LINE_HEADER.pack(len(data) + LINE_LEVEL.size, KIND_LINE, level)
    return header + data


def dest_line_frame(levelno: int, tag: int, data: bytes) -> bytes:
    """The frame of a finished line (``data``: encoded, terminator included) for the plan's
    output ``tag``."""
    try:
        return DEST_HEADER.pack(len(data) + 4, KIND_DEST_LINE, levelno, tag) + data
    except struct.error:  # a custom level outside the field's range: clamped, as for lines
        level = min(max(int(levelno), 0), 0xFFFF)
        return DEST_HEADER.pack(len(data) + 4, KIND_DEST_LINE, level, tag) + data


def level_frame(levelno: int) -> bytes:
    """The frame that gives the level of the plain lines after it on a pipe."""
    return LINE_HEADER.pack(LINE_LEVEL.size, KIND_LEVEL, min(max(int(levelno), 0), 0xFFFF))


def dest_frame(levelno: int, output: int) -> bytes:
    """The frame that gives the level and the plan output of the plain lines after it on a
    pipe."""
    return DEST_HEADER.pack(4, KIND_DEST, min(max(int(levelno), 0), 0xFFFF), output)


def nul_framed(data: bytes) -> bytes:
    """``data`` (whole frames, one after another) with a NUL before each, as frames travel on
    a pipe that also carries plain lines (see ``mplog._frames``)."""
    end = HEADER.unpack_from(data)[0] + HEADER.size
    if end == len(data):  # one frame: the common case
        return b"\0" + data
    parts = [data[:end]]
    while end < len(data):
        start, end = end, end + HEADER.size + HEADER.unpack_from(data, end)[0]
        parts.append(data[start:end])
    return b"\0" + b"\0".join(parts)


def shipment_frames(shipment: Shipment, nul: bytes = b"") -> bytes:
    """The frames of ``shipment``: its first line in a ``KIND_DEST_LINE`` frame (none for
    ``NO_LINE``), then the frames after it; each after ``nul`` (on a pipe, ``b"\\0"``)."""
    levelno, output, line, more = shipment
    if nul and more:
        more = nul_framed(more)
    if output == NO_LINE:
        return more
    return nul + dest_line_frame(levelno, output, line) + more


def count_frames(data: bytes) -> int:
    """How many frames ``data`` (whole frames, one after another) holds."""
    length = HEADER.unpack_from(data)[0] + HEADER.size
    count, size = 1, len(data)
    while length < size:
        length += HEADER.unpack_from(data, length)[0] + HEADER.size
        count += 1
    return count


def levels_frame(levels: Iterable[tuple[str, int]]) -> bytes:
    """The frame the listener sends to push level changes to a process."""
    return frame(KIND_LEVELS, encode({"levels": [list(p) for p in levels]}))


#: The attributes ``LogRecord.__init__`` sets.
_INIT_KEYS = frozenset(logging.makeLogRecord({}).__dict__)


def make_record(fields: dict[str, Any]) -> logging.LogRecord:
    """Rebuild a record from a decoded record body: ``logging.makeLogRecord(fields)``,
    without running ``LogRecord.__init__`` (a third of the listener's cost of a record) when
    ``fields`` holds every attribute it sets; the record's attributes are then ``fields``
    itself."""
    if not fields.keys() >= _INIT_KEYS:  # issubset() would build a set of fields first
        return logging.makeLogRecord(fields)
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__ = fields
    return record
