"""Formatting a record into its final line inside the process that logged it.

When the destination is a file with one known format, each process formats its own records
and ships finished lines: the formatting work is spread over the workers instead of piling
up in the single listener, which then only appends bytes.
"""

from __future__ import annotations

import logging
import time

from mplog._wire import render_message


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` that never fails on a record's message, with cached timestamps.

    The output is identical to ``logging.Formatter(fmt, datefmt, style)``; the timestamp text
    of the current second is reused instead of calling ``strftime`` for every record.
    """

    def __init__(self, fmt: str, datefmt: str | None, style: str) -> None:
        super().__init__(fmt, datefmt, style)  # type: ignore[arg-type]
        self._uses_time = self.usesTime()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        """Format like the stdlib, rendering a message whose formatting raises as text."""
        record.message = render_message(record)
        if self._uses_time:
            record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
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
