"""Formatting a record into its final line inside the process that logged it.

When the destination is a file with one known format, each process formats its own records
and ships finished lines: the formatting work is spread over the workers instead of piling
up in the single listener, which then only appends bytes.
"""

from __future__ import annotations

import logging
import time

from mplog._protocol import render_message
from mplog._worker.context import names_pool_fields

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` that never fails on a record's message, with cached timestamps.

    The output is identical to ``logging.Formatter(fmt, datefmt, style)``. It runs for every
    record a process ships, so the common case takes a short path: the timestamp text is
    reused within the same millisecond (``strftime`` runs once a second), and a ``%``-style
    format is applied to the record's attributes directly.
    """

    def __init__(
        self, fmt: str, datefmt: str | None, style: str, defaults: dict[str, Any] | None = None
    ) -> None:
        super().__init__(fmt, datefmt, style, defaults=defaults)  # type: ignore[arg-type]
        self._uses_time = self.usesTime()
        #: Whether the format may name ``worker_index``, ``task_id`` or ``task_name``.
        self.names_pool_fields = names_pool_fields(fmt)
        # ``{`` and ``$`` styles subclass PercentStyle: only the ``%`` style itself is direct.
        # With ``defaults``, the style merges them into the record's fields first.
        percent = type(self._style) is logging.PercentStyle and not defaults
        self._percent_fmt = self._style._fmt if percent else None
        self._second = -1
        self._second_text = ""
        self._moment = (-1, -1.0)  # the (second, millisecond) of _moment_text
        self._moment_text = ""

    def format(self, record: logging.LogRecord) -> str:
        """Format like the stdlib, rendering a message whose formatting raises as text."""
        try:
            record.message = record.getMessage()
        except Exception:
            record.message = render_message(record)
        if self._uses_time:
            record.asctime = self._asctime(record)
        fmt = self._percent_fmt
        text = fmt % record.__dict__ if fmt is not None else self.formatMessage(record)
        if record.exc_info or record.exc_text or record.stack_info:
            return self._with_traces(record, text)
        return text

    def _asctime(self, record: logging.LogRecord) -> str:
        moment = (int(record.created), record.msecs)
        if moment != self._moment:
            self._moment_text = self.formatTime(record, self.datefmt)
            self._moment = moment
        return self._moment_text

    def _with_traces(self, record: logging.LogRecord, text: str) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = _joined(text, record.exc_text)
        if record.stack_info:
            text = _joined(text, self.formatStack(record.stack_info))
        return text

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The stdlib's timestamp text, computed once per second of ``record.created``."""
        second = int(record.created)
        if second != self._second:
            converted = self.converter(record.created)
            self._second_text = time.strftime(datefmt or self.default_time_format, converted)
            self._second = second
        if datefmt or not self.default_msec_format:
            return self._second_text
        return self.default_msec_format % (self._second_text, record.msecs)


def _joined(text: str, more: str) -> str:
    return text + more if text[-1:] == "\n" else f"{text}\n{more}"
