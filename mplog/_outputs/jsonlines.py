"""JSON lines: a ``logging.Formatter`` writing each record as one JSON object on one line.

Every line parses, whatever the record holds. The fast encoder (orjson when installed, else
the stdlib's C encoder) is tried first; if it refuses the record (an object it cannot encode,
a lone surrogate, NaN, a cycle, an int beyond 64 bits for orjson), the record is made plain
and encoded again with the stdlib:

* objects JSON has no type for become text: ``datetime``/``date``/``time`` their ISO form,
  ``set``/``frozenset`` a list, ``bytes`` UTF-8 text (``\\xNN`` for invalid bytes), anything
  else its ``repr()`` (or a placeholder naming its type when ``repr()`` raises);
* NaN and infinities become ``null``: orjson does so natively, and a number field that stays
  a number or null keeps schema'd stores (Elasticsearch, BigQuery) from rejecting the line;
* lone surrogates become the text ``\\udcxx`` (a backslash and the code point, as mplog's
  text files write them), since a strict parser rejects a lone surrogate escape;
* non-ASCII text is written as is (UTF-8), not as ``\\u`` escapes;
* dict keys that are not strings become text; nesting deeper than ``MAX_DEPTH`` (16) levels (cycles
  included) is cut off with the ``repr()`` of what is left.

The common record (every field text, an int, a finite float, a bool or None; no exception or
stack; no field renamed) is written without the dict and without ``json.dumps`` when the
stdlib encoder is in use (``JsonFormatter.plain_line``): the fixed fields fill a template, text
goes through the encoder's own C quoting (``json.encoder.encode_basestring``), and the time
text is made once a second, so the bytes are those of the dict's way (tests compare the two on
random hostile records) at about half its cost. Any other record takes the dict.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from mplog import _exceptions
from mplog._protocol import MAX_DEPTH, render_message, safe_repr
from mplog._settings import EXC_FIELD, STANDARD_ATTRIBUTES

_ORIGIN = (
    "process",
    "processName",
    "thread",
    "threadName",
    "module",
    "funcName",
    "lineno",
    "pathname",
)
_SCALARS = (int, bool, type(None))
#: The keys before the static and extra fields: an extra of one of the names that are no
#: record attribute is renamed ``extra_<name>`` (the general way, see ``to_dict``).
_RENAMED = frozenset({"time", "level", "logger"})
_FIXED = _RENAMED | {"message", *_ORIGIN}
#: The attributes ``LogRecord()`` sets (all standard: a record with just these has no extras).
_RECORD_KEYS = STANDARD_ATTRIBUTES.intersection(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
)
#: The stdlib encoder's own quoting of text (C); TypeError for anything but text.
_quote: Callable[[Any], str] = encode_basestring
_int_repr = int.__repr__
_float_repr = float.__repr__

Dumps = Callable[[dict[str, Any]], str]


def to_json_value(obj: Any) -> Any:
    """A JSON-ready stand-in for an object no encoder knows (the encoders' ``default``)."""
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "backslashreplace")
    return safe_repr(obj)


# Built once: json.dumps() with any non-default argument builds a new encoder on every call.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, default=to_json_value, separators=(",", ":")
)


def _stdlib_dumps(payload: dict[str, Any]) -> str:
    text = _ENCODER.encode(payload)
    if not text.isascii():
        text.encode("utf-8")  # a lone surrogate raises here: take the slow path
    return text


def _orjson_dumps() -> Dumps | None:
    try:
        import orjson
    except ImportError:
        return None
    option = orjson.OPT_NON_STR_KEYS

    def dumps(payload: dict[str, Any]) -> str:
        encoded: bytes = orjson.dumps(payload, default=to_json_value, option=option)
        return encoded.decode("utf-8")

    return dumps


def pick_encoder(name: str = "auto") -> Dumps:
    """The encoder called ``name``: "orjson", "json" (stdlib) or "auto" (orjson if installed)."""
    if name not in ("auto", "orjson", "json"):
        raise ValueError(f"encoder must be 'auto', 'orjson' or 'json', got {name!r}")
    fast = None if name == "json" else _orjson_dumps()
    if fast is None and name == "orjson":
        raise ValueError("encoder='orjson' needs orjson: pip install 'mplog[orjson]'")
    return fast or _stdlib_dumps


def make_plain(value: Any, depth: int = 0) -> Any:
    """``value`` with only what the stdlib encoder accepts with ``allow_nan=False``."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, (*_SCALARS, float)):
        return None if isinstance(value, float) and not math.isfinite(value) else value
    if depth >= MAX_DEPTH:
        return _clean_text(safe_repr(value))
    if isinstance(value, dict):
        return {_key(k): make_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [make_plain(item, depth + 1) for item in value]
    return make_plain(to_json_value(value), depth + 1)


def _clean_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _clean_text(key)
    if isinstance(key, (int, float, bool)) or key is None:
        return json.dumps(make_plain(key))
    return _clean_text(safe_repr(key))


class JsonFormatter(logging.Formatter):
    """Format each record as one line of JSON.

    Keys, in order: ``time`` (ISO 8601 with UTC offset), ``level``, ``logger``, ``message``,
    ``process``, ``processName``, ``thread``, ``threadName``, ``module``, ``funcName``,
    ``lineno``, ``pathname``; then every ``extra=`` and context field of the record (an extra
    whose name is one of these keys is written as ``extra_<name>``); then, if present,
    ``exc_info`` (``{"type", "message", "frames": [{"filename", "lineno", "name", "line"}]}``),
    ``exc_text`` (the traceback as text) and ``stack_info``.

    :param utc: times in UTC (``+00:00``) instead of local time with its offset.
    :param timespec: precision of the time, as for ``datetime.isoformat``.
    :param encoder: "auto" (orjson if installed), "orjson" or "json".
    :param static: fields added to every line (a service name, a host), before the extras.
    """

    def __init__(
        self,
        *,
        utc: bool = False,
        timespec: str = "milliseconds",
        encoder: str = "auto",
        static: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.utc = utc
        self.timespec = timespec
        self.static = dict(static or {})
        self.encoder = encoder
        self._dumps = pick_encoder(encoder)
        self._tz_second = -1
        self._tz: dt.tzinfo = dt.timezone.utc
        #: The whole second and zone of ``_iso_text`` (the date and time before the
        #: fraction, and the offset after it).
        self._iso_key: tuple[int, dt.tzinfo | None] = (-1, None)
        self._iso_text = ("", "")
        #: Whether :meth:`plain_line` may write this formatter's lines (not in a subclass
        #: that shapes them otherwise).
        kind = type(self)
        self._plain = kind.to_dict is JsonFormatter.to_dict and (
            kind.iso_time is JsonFormatter.iso_time
        )

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (no newline: the handler adds its terminator)."""
        if self._plain:
            line = self.plain_line(record)
            if line is not None:
                return line
        payload = self.to_dict(record)
        try:
            return self._dumps(payload)
        except (TypeError, ValueError, OverflowError, RecursionError):
            # Each field counts from depth 0, as a record attribute does on the wire.
            return _stdlib_dumps({_key(k): make_plain(v) for k, v in payload.items()})

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """The record as the dict that :meth:`format` encodes."""
        payload: dict[str, Any] = {
            "time": self.iso_time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": render_message(record),
        }
        attributes = record.__dict__
        for key in _ORIGIN:
            payload[key] = attributes.get(key)
        payload.update(self.static)
        if len(attributes) != len(_RECORD_KEYS) or attributes.keys() != _RECORD_KEYS:
            for key, value in attributes.items():  # the extras (none in a bare record)
                if key not in STANDARD_ATTRIBUTES:
                    payload[f"extra_{key}" if key in payload else key] = value
        self._add_exception(record, payload)
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return payload

    def iso_time(self, record: logging.LogRecord) -> str:
        """``record.created`` in ISO 8601 with its UTC offset."""
        created = record.created
        second = int(created)
        if not self.utc and second != self._tz_second:
            # Looking up the local offset costs more than the rest of the formatting: do it
            # once per second (the offset in effect at that moment, so DST is followed).
            local = dt.datetime.fromtimestamp(second).astimezone()
            self._tz, self._tz_second = local.tzinfo or dt.timezone.utc, second
        if self.timespec != "milliseconds" or type(created) is not float or created < 0:
            return dt.datetime.fromtimestamp(created, self._tz).isoformat(timespec=self.timespec)
        # datetime's own arithmetic: the fraction rounded half to even to microseconds
        # (which may carry into the next second), then cut to milliseconds; the text of the
        # whole second is made once per second.
        micros = round((created - second) * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        key = (second, self._tz)
        if key != self._iso_key:
            text = dt.datetime.fromtimestamp(second, self._tz).isoformat(timespec="seconds")
            self._iso_key, self._iso_text = key, (text[:19], text[19:])
        before, offset = self._iso_text
        return f"{before}.{micros // 1000:03d}{offset}"

    @property
    def writes_plain(self) -> bool:
        """Whether :meth:`plain_line` can write this formatter's lines (the stdlib encoder,
        and not a subclass that shapes them otherwise)."""
        return self._plain and self._dumps is _stdlib_dumps

    def plain_line(self, record: logging.LogRecord, tail: str = "") -> str | None:
        """:meth:`format`'s line, written without building the dict, for a record whose
        fields are all text, ints, finite floats, booleans or None, with no exception or
        stack and no field renamed, formatted with the stdlib encoder; None for any other
        record (:meth:`format` takes the general way, so the line is the same either way).

        ``tail``: fields the record would have last, already written by
        :meth:`fields_text` (names that neither the record nor ``static`` has)."""
        if (
            self._dumps is not _stdlib_dumps
            or record.exc_info
            or record.exc_text
            or record.stack_info
        ):
            return None
        head = self._plain_head(record)
        static, attributes = self.static, record.__dict__
        try:  # a key that is not text raises TypeError
            if static:
                fixed = _fields_text(static.items(), _FIXED)
                extras = _fields_text(
                    attributes.items(), _RENAMED.union(static), STANDARD_ATTRIBUTES
                )
                extras = None if fixed is None or extras is None else fixed + extras
            elif len(attributes) == len(_RECORD_KEYS) and attributes.keys() == _RECORD_KEYS:
                extras = ""  # only what LogRecord() sets: no extras (a set test, in C)
            else:
                extras = _fields_text(attributes.items(), _RENAMED, STANDARD_ATTRIBUTES)
        except TypeError:
            return None
        if head is None or extras is None:
            return None
        line = f"{head}{extras}{tail}}}"
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: the general way replaces it
                return None
        return line

    def bare_line(self, record: logging.LogRecord, items: list[tuple[str, Any]]) -> str | None:
        """:meth:`format`'s line for ``record`` with ``items`` set on it last, for a record
        with only the attributes ``LogRecord()`` sets, no exception and no stack, whose line
        the encoder writes at the first try (``items``: names neither the record nor
        ``static`` has, plain values, as :meth:`fields_text` checks); None otherwise. For
        the encoders :meth:`plain_line` leaves to the dict (orjson)."""
        attributes = record.__dict__
        if (
            len(attributes) != len(_RECORD_KEYS)
            or attributes.keys() != _RECORD_KEYS
            or record.exc_info
            or record.exc_text
            or record.stack_info
        ):
            return None
        payload = self.to_dict(record)
        payload.update(items)
        try:
            return self._dumps(payload)
        except (TypeError, ValueError, OverflowError, RecursionError):
            return None  # the general way makes the record plain first

    def fields_text(self, items: Any) -> str | None:
        """``items`` (key, value pairs) as :meth:`plain_line` writes them after the record's
        own fields, or None if one is not plain (or its name is taken)."""
        try:
            return _fields_text(items, STANDARD_ATTRIBUTES.union(_FIXED, self.static))
        except TypeError:
            return None

    def _plain_head(self, record: logging.LogRecord) -> str | None:
        """The fixed fields' part of :meth:`plain_line`'s line, or None if one is not plain."""
        attributes: dict[str, Any] = record.__dict__
        get, quote = attributes.get, _quote
        process, thread, lineno = get("process"), get("thread"), get("lineno")
        when, message = self.iso_time(record), render_message(record)
        if type(process) is int and type(thread) is int and type(lineno) is int:
            try:  # quote() takes text only (not None); an exact int's text is its repr
                return (
                    f'{{"time":"{when}","level":{quote(record.levelname)},'
                    f'"logger":{quote(record.name)},"message":{quote(message)},'
                    f'"process":{process},"processName":{quote(get("processName"))},'
                    f'"thread":{thread},"threadName":{quote(get("threadName"))},'
                    f'"module":{quote(get("module"))},"funcName":{quote(get("funcName"))},'
                    f'"lineno":{lineno},"pathname":{quote(get("pathname"))}'
                )
            except TypeError:
                pass
        # Some field is None (logging.logThreads = False, a record made by hand) or odd.
        fixed: list[tuple[str, Any]] = [("time", when), ("level", record.levelname)]
        fixed.append(("logger", record.name))
        fixed.append(("message", message))
        fixed.extend((key, get(key)) for key in _ORIGIN)
        try:
            text = _fields_text(fixed, ())
        except TypeError:
            return None
        return None if text is None else "{" + text[1:]

    def _add_exception(self, record: logging.LogRecord, payload: dict[str, Any]) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)  # cached, as stdlib
            payload["exc_info"] = _exceptions.summarize(record.exc_info)
        elif record.exc_text:
            given = record.__dict__.get(EXC_FIELD)
            payload["exc_info"] = (
                given if isinstance(given, dict) else _exceptions.parse(record.exc_text)
            )
        if record.exc_text:
            payload["exc_text"] = record.exc_text


def _fields_text(items: Any, taken: Any, skip: Any = ()) -> str | None:
    """``,"key":value`` for each item whose key is not in ``skip`` (the record's own
    attributes, for its extras), as the stdlib encoder writes it; None when a value is not
    plain or a key is in ``taken`` (the general way renames or replaces it). TypeError for
    a key that is not text."""
    parts = []
    quote = _quote
    for key, value in items:
        if key in skip:
            continue
        if key in taken:
            return None
        kind = type(value)
        if kind is str:
            text = quote(value)
        elif value is None:
            text = "null"
        elif kind is int:
            text = _int_repr(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is float and value - value == 0.0:  # finite (NaN and infinities: null)
            text = _float_repr(value)
        else:
            return None
        parts.append(f",{quote(key)}:{text}")
    return "".join(parts)
