"""An exception as structure: type, message and traceback frames, as plain JSON-ready data.

From a live ``exc_info`` (:func:`summarize`) or, in the listener, where records arrive with
only their ``exc_text`` (the wire renders exceptions to text in the process that logged),
from that text (:func:`parse`). Both give the same shape for the same exception::

    {"type": "ValueError", "message": "bad value",
     "frames": [{"filename": "/app/x.py", "lineno": 12, "name": "load", "line": "int(s)"}]}

Imports nothing from mplog, so that ``mplog._protocol`` can use :func:`summarize` too.
``type`` is spelled as tracebacks print it (``module.QualName``, without ``builtins.`` or
``__main__.``). For a chained exception it describes the one raised last (printed last).
"""

from __future__ import annotations

import functools
import re
import traceback
from types import TracebackType

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_HEADER = "Traceback (most recent call last):"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A traceback's frame line and its last line, compiled on first use: only the listener
    parses tracebacks, and compiling them cost every spawned worker 0.2 ms."""
    frame = re.compile(r'^  File "(?P<filename>.*)", line (?P<lineno>\d+)(?:, in (?P<name>.*))?$')
    last = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?:: ?(?P<message>.*))?$", re.DOTALL)
    return frame, last


def type_name(exc_type: type[BaseException]) -> str:
    """The exception type's name as a traceback prints it."""
    module = getattr(exc_type, "__module__", None)
    name = getattr(exc_type, "__qualname__", None) or exc_type.__name__
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def summarize(exc_info: ExcInfo) -> dict[str, Any]:
    """The structure of a live exception."""
    exc_type, value, tb = exc_info
    try:
        message = str(value)
    except Exception:  # a broken __str__ must not cost the record
        message = f"<unprintable {type(value).__name__} object>"
    frames = [
        {"filename": f.filename, "lineno": f.lineno, "name": f.name, "line": f.line or None}
        for f in traceback.extract_tb(tb)
    ]
    return {"type": type_name(exc_type), "message": message, "frames": frames}


def parse(text: str) -> dict[str, Any]:
    """The structure of a formatted traceback (``record.exc_text``), best effort.

    Text that does not look like a traceback gives ``type`` None and the text as message.
    """
    frame_line, last_line = _patterns()
    lines = text.rstrip("\n").split("\n")
    start = _last_header(lines)
    frames: list[dict[str, Any]] = []
    index = start
    while index < len(lines):
        line = lines[index]
        match = frame_line.match(line)
        if match:
            source = lines[index + 1] if index + 1 < len(lines) else ""
            has_source = source.startswith("    ") and not frame_line.match(source)
            frames.append(_frame(match, source.strip() if has_source else None))
            index += 2 if has_source else 1
        elif line[:1] in (" ", "\t") or line == _HEADER:
            index += 1  # carets, "[Previous line repeated ...]", the header itself
        else:
            break
    rest = "\n".join(lines[index:])
    kind = last_line.match(rest) if index < len(lines) else None
    if kind is None:
        return {"type": None, "message": rest or text, "frames": frames}
    return {"type": kind["type"], "message": kind["message"] or "", "frames": frames}


def _last_header(lines: list[str]) -> int:
    for index in range(len(lines) - 1, -1, -1):
        if lines[index] == _HEADER:
            return index
    return 0


def _frame(match: re.Match[str], line: str | None) -> dict[str, Any]:
    return {
        "filename": match["filename"],
        "lineno": int(match["lineno"]),
        "name": match["name"],
        "line": line,
    }
