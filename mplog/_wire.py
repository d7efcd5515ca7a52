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

import logging
import marshal
import struct
from typing import Any

from mplog._exceptions import summarize

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
LINE_LEVEL = struct.Struct("!H")
_LINE_HEADER = struct.Struct("!IBH")

_PLAIN = frozenset({str, int, float, bool, type(None), bytes})
_MAX_DEPTH = 16
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
    if depth < _MAX_DEPTH:
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
    """``record.getMessage()``, or a readable rendering of msg and args when it raises."""
    try:
        return record.getMessage()
    except Exception as exc:
        args = record.args
        shown = (
            "(" + ", ".join(safe_repr(a) for a in args) + ")"
            if isinstance(args, tuple)
            else safe_repr(args)
        )
        return (
            f"{safe_repr(record.msg)} % {shown} "
            f"[mplog: message formatting failed: {type(exc).__name__}]"
        )


def record_body(record: logging.LogRecord) -> bytes:
    """Encode a copy of ``record`` for the wire; the caller's record is left untouched."""
    fields = record.__dict__.copy()
    fields["msg"] = render_message(record)
    fields["args"] = None
    fields.pop("message", None)
    if record.exc_info:
        fields["exc_text"] = record.exc_text or _EXC_FORMATTER.formatException(record.exc_info)
        error = record.exc_info[1]
        if error is not None:  # the structure too, for JSON and error trackers
            fields["mplog_exc"] = summarize((type(error), error, record.exc_info[2]))
        fields["exc_info"] = None
    for key, value in fields.items():
        if type(value) not in _PLAIN:
            fields[key] = plain(value)
    return marshal.dumps(fields)


def line_frame(levelno: int, line: str) -> bytes:
    """The frame of a finished line (newline included): header, level of its record, UTF-8."""
    data = line.encode("utf-8", "backslashreplace")
    return _LINE_HEADER.pack(len(data) + LINE_LEVEL.size, KIND_LINE, levelno) + data


def make_record(fields: dict[str, Any]) -> logging.LogRecord:
    """Rebuild a record in the listener from a decoded record body."""
    return logging.makeLogRecord(fields)


class FrameReader:
    """Split a byte stream into frames; keeps a partial frame until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF means a torn frame)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return every frame it completes, as ``(kind, body)``."""
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        pos = 0
        header = HEADER.size
        frames = []
        while size - pos >= header:
            length, kind = HEADER.unpack_from(buffer, pos)
            end = pos + header + length
            if end > size:
                break
            frames.append((kind, bytes(buffer[pos + header : end])))
            pos = end
        del buffer[:pos]
        return frames
