"""The line plan of a router: which of its handlers the logging processes can write for.

A handler qualifies when its output is fully known from plain data: its class only appends
``format(record) + terminator`` to a stream (``logging.FileHandler``, ``logging.StreamHandler``
on a stream with a byte buffer, mplog's ``RotatingHandler``, which counts the bytes it is
given and so rotates at the same points), it has no filters, and its formatter is a plain
``logging.Formatter`` (any style, ``datefmt``, ``defaults``, local or UTC time) or mplog's
``JsonFormatter``. Subclasses never qualify (they may override anything). The others keep
the record path: processes send them the record, the listener formats it.

Handler levels are read here, once, when the listener starts; a handler's level changed
afterwards (``handler.setLevel`` in the listener) does not reach the processes.

Set the environment variable ``MPLOG_RECORD_PATH=1`` (when the listener starts) to send
every record on the record path: the reference the plan's output is tested against.
"""

from __future__ import annotations

import locale
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mplog import _protocol
from mplog._lineplan import RECORD, JsonFormat, LinePlan, Output, Route, TextFormat
from mplog._outputs.jsonlines import JsonFormatter
from mplog._outputs.rotation import RotatingHandler

#: Set (to anything but "" or "0") to turn the line plan off: every record on the record path.
RECORD_PATH_ENV = "MPLOG_RECORD_PATH"
_STYLES = {logging.PercentStyle: "%", logging.StrFormatStyle: "{", logging.StringTemplateStyle: "$"}
_CONVERTERS: dict[Any, str] = {time.localtime: "localtime", time.gmtime: "gmtime"}
_STREAM_CLASSES = (logging.StreamHandler, logging.FileHandler, RotatingHandler)


def records_forced() -> bool:
    """Whether :data:`RECORD_PATH_ENV` turns lines off (for network senders, also the
    single-format file's)."""
    return os.environ.get(RECORD_PATH_ENV, "") not in ("", "0")


def build_plan(
    handlers: Sequence[logging.Handler], root: Any, routes: Mapping[str, Any]
) -> LinePlan | None:
    """The plan for ``handlers`` (indexed as given) routed by ``root`` and ``routes``
    (``router.Route``s); None when no handler qualifies, or the plan is turned off."""
    if records_forced():
        return None
    formats: list[TextFormat | JsonFormat] = []
    outputs = tuple(_output(handler, formats) for handler in handlers)
    if all(output.format == RECORD for output in outputs):
        return None
    index = {id(handler): i for i, handler in enumerate(handlers)}

    def route(section: Any) -> Route:
        ids = tuple(index[id(h)] for h in section.handlers)
        return Route(ids, bool(section.propagate), bool(section.filters))

    named = tuple((name, route(section)) for name, section in routes.items())
    return LinePlan(tuple(formats), outputs, route(root), named)


def _output(handler: logging.Handler, formats: list[TextFormat | JsonFormat]) -> Output:
    codec = _codec(handler)
    spec = _format(handler.formatter or logging.Formatter())
    if handler.filters or codec is None or spec is None or not _plain(spec):
        return Output(RECORD, handler.level)
    if spec not in formats:
        formats.append(spec)
    terminator = getattr(handler, "terminator", "\n")
    if not isinstance(terminator, str):
        return Output(RECORD, handler.level)
    return Output(formats.index(spec), handler.level, terminator, *codec)


def _codec(handler: logging.Handler) -> tuple[str, str] | None:
    """The ``(encoding, errors)`` the handler's stream encodes text with, if the listener
    can append bytes to it in its stead."""
    if type(handler) not in _STREAM_CLASSES:
        return None
    stream = getattr(handler, "stream", None)
    if stream is None:
        if not isinstance(handler, logging.FileHandler) or "b" in handler.mode:
            return None
        encoding = handler.encoding
        if encoding in (None, "locale"):
            encoding = locale.getpreferredencoding(False)
        return str(encoding), str(handler.errors or "strict")
    encoding, errors = getattr(stream, "encoding", None), getattr(stream, "errors", None)
    if getattr(stream, "buffer", None) is None or not isinstance(encoding, str):
        return None
    return encoding, errors if isinstance(errors, str) else "strict"


def _format(formatter: logging.Formatter) -> TextFormat | JsonFormat | None:
    if type(formatter) is JsonFormatter:
        return JsonFormat(
            formatter.utc, formatter.timespec, formatter.encoder, tuple(formatter.static.items())
        )
    style = _STYLES.get(type(formatter._style))
    converter = _CONVERTERS.get(formatter.converter)
    if type(formatter) is not logging.Formatter or style is None or converter is None:
        return None
    defaults = getattr(formatter._style, "_defaults", None)
    return TextFormat(
        formatter._style._fmt,
        formatter.datefmt,
        style,
        None if not defaults else tuple(defaults.items()),
        converter,
        formatter.default_time_format,
        formatter.default_msec_format,
    )


def _plain(spec: TextFormat | JsonFormat) -> bool:
    """Whether the values a format carries (``defaults``, ``static``) travel unchanged."""
    values = spec.static if isinstance(spec, JsonFormat) else (spec.defaults or ())
    return all(_protocol.plain(v) == v and type(k) is str for k, v in values)
