"""The line plan: which finished lines each process formats, for which of the listener's
handlers, as plain data.

The listener knows its handlers when it starts. For every handler whose output a process can
reproduce byte for byte (a known formatter, a handler that only appends text to a stream,
no filters), the plan says how to format and encode the line and which level the handler
takes; for the others, that they need the record. It also carries the logger routing
(``loggers`` of a dictConfig: their handlers, ``propagate``, whether they have filters), so
that each process routes its own records the way the listener's router would. The plan
travels in :class:`mplog._settings.WorkerConfig`; both sides import this module, so it
imports neither (nor ``dataclasses`` and ``typing``: see ``mplog._frozen``).
"""

from __future__ import annotations

from mplog._frozen import frozen

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

#: Set on the tag of a line that is not its record's first (so a record is counted once).
MORE = 0x8000
#: The record field through which a process names the handlers a record frame is for:
#: ``[counted, index, ...]``, ``counted`` being 1 when the record's lines already counted it.
DESTS_FIELD = "mplog_dests"
#: An output whose handler the process cannot reproduce: it gets the record.
RECORD = -1


@frozen
class TextFormat:
    """A ``logging.Formatter``: its format, date format, style and everything else that
    shapes its output."""

    fmt: str
    datefmt: str | None = None
    style: str = "%"
    defaults: tuple[tuple[str, Any], ...] | None = None
    #: "localtime" or "gmtime" (``Formatter.converter``).
    converter: str = "localtime"
    default_time_format: str = "%Y-%m-%d %H:%M:%S"
    default_msec_format: str | None = "%s,%03d"


@frozen
class JsonFormat:
    """mplog's ``JsonFormatter`` and its options."""

    utc: bool = False
    timespec: str = "milliseconds"
    encoder: str = "auto"
    static: tuple[tuple[str, Any], ...] = ()


@frozen
class Output:
    """One handler of the listener, by its index in the plan."""

    #: Index in :attr:`LinePlan.formats`, or :data:`RECORD`.
    format: int
    level: int = 0
    terminator: str = "\n"
    encoding: str = "utf-8"
    errors: str = "strict"


@frozen
class Route:
    """A logger name's handlers (output indices) and propagation; ``filtered``: the logger
    has filters, so its records take the record path whole."""

    outputs: tuple[int, ...] = ()
    propagate: bool = True
    filtered: bool = False


@frozen
class LinePlan:
    """Everything a process needs to format and route lines for the listener's handlers."""

    formats: tuple[TextFormat | JsonFormat, ...]
    outputs: tuple[Output, ...]
    root: Route
    routes: tuple[tuple[str, Route], ...] = ()

    def chain(self, name: str) -> tuple[tuple[int, ...], bool]:
        """The outputs a record of logger ``name`` reaches, in order (as
        ``Logger.callHandlers`` walks up the dotted names), and whether the logger itself has
        filters."""
        routes = dict(self.routes)
        own = routes.get(name) or (self.root if name == "root" else None)
        found: list[int] = []
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            route = routes.get(".".join(parts[:end]))
            if route is not None:
                found.extend(route.outputs)
                if not route.propagate:
                    return tuple(found), bool(own and own.filtered)
        return (*found, *self.root.outputs), bool(own and own.filtered)


def take_dests(fields: dict[str, Any]) -> tuple[bool, list[int] | None]:
    """Remove from a record's fields the handlers its process named (``DESTS_FIELD``):
    ``(whether its lines already counted the record, the plan's output indices)``, or
    ``(False, None)`` when it named none. A malformed list raises ValueError."""
    dests = fields.pop(DESTS_FIELD, None)
    if dests is None:
        return False, None
    if type(dests) is not list or len(dests) < 2 or not all(type(i) is int for i in dests):
        raise ValueError(f"a record frame naming handlers {dests!r}")
    return bool(dests[0]), dests[1:]


# -- the plan on the network ------------------------------------------------------------------
# A network sender gets the plan in the listener's welcome, as plain data (``_protocol.encode``),
# and rebuilds it from that data only: every value is checked for its type, and a ``{``-style
# format may name fields only (no ``{a.b}`` or ``{a[b]}``: a format from the network must not
# reach into the sender's objects).


def digest(line_format: tuple[Any, ...] | None, plan: LinePlan | None) -> str | None:
    """A short fingerprint of what a process formats lines with (None: records), named in a
    network sender's hello, so the listener knows whether its resent lines fit its plan."""
    if line_format is None and plan is None:
        return None
    import hashlib  # network senders and listeners only

    data = ["line", list(line_format or ())] if plan is None else ["plan", to_data(plan)]
    return hashlib.sha256(repr(data).encode()).hexdigest()[:16]


def to_data(plan: LinePlan) -> dict[str, Any]:
    """``plan`` as plain data (for ``_protocol.encode``)."""
    formats: list[list[Any]] = []
    for spec in plan.formats:
        if isinstance(spec, TextFormat):
            defaults = None if spec.defaults is None else [list(p) for p in spec.defaults]
            text = [spec.fmt, spec.datefmt, spec.style, defaults, spec.converter]
            formats.append(["text", *text, spec.default_time_format, spec.default_msec_format])
        else:
            static = [list(p) for p in spec.static]
            formats.append(["json", spec.utc, spec.timespec, spec.encoder, static])
    return {
        "formats": formats,
        "outputs": [[o.format, o.level, o.terminator, o.encoding, o.errors] for o in plan.outputs],
        "root": _route_data(plan.root),
        "routes": [[name, _route_data(route)] for name, route in plan.routes],
    }


def _route_data(route: Route) -> list[Any]:
    return [list(route.outputs), route.propagate, route.filtered]


def from_data(data: Any) -> LinePlan:
    """The plan :func:`to_data` made, checked; ValueError for anything else."""
    try:
        formats = tuple(_format(item) for item in data["formats"])
        outputs = tuple(_output(item, len(formats)) for item in data["outputs"])
        count = len(outputs)
        root = _route(data["root"], count)
        routes = tuple((_text(name), _route(route, count)) for name, route in data["routes"])
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"not a line plan: {type(exc).__name__}: {exc}") from None
    return LinePlan(formats, outputs, root, routes)


def _format(item: Any) -> TextFormat | JsonFormat:
    kind, *rest = item
    if kind == "json" and len(rest) == 4:
        utc, timespec, encoder, static = rest
        if encoder not in ("auto", "json", "orjson"):
            raise ValueError(f"not a line plan: encoder {encoder!r}")
        return JsonFormat(_flag(utc), _text(timespec), encoder, _pairs(static))
    if kind == "text" and len(rest) == 7:
        fmt, datefmt, style, defaults, converter, time_format, msec_format = rest
        if style not in ("%", "{", "$") or converter not in ("localtime", "gmtime"):
            raise ValueError(f"not a line plan: style {style!r}, converter {converter!r}")
        check_names(_text(fmt), style)
        return TextFormat(
            _text(fmt),
            _optional_text(datefmt),
            style,
            None if defaults is None else _pairs(defaults),
            converter,
            _text(time_format),
            _optional_text(msec_format),
        )
    raise ValueError(f"not a line plan: a format {kind!r}")


def check_names(fmt: str, style: str) -> None:
    """ValueError if the ``{``-style ``fmt`` names anything but fields (``{a.b}``, ``{a[0]}``
    and nested fields reach into the sender's objects)."""
    if style != "{":
        return
    import string  # senders of a plan with a {-style format only

    for _, name, spec, _ in string.Formatter().parse(fmt):
        if (name is not None and not name.isidentifier()) or "{" in (spec or ""):
            raise ValueError(f"not a line plan: the format field {name!r} is not a name")


def _output(item: Any, formats: int) -> Output:
    index, level, terminator, encoding, errors = item
    if type(index) is not int or not (index == RECORD or 0 <= index < formats):
        raise ValueError(f"not a line plan: format index {index!r}")
    if type(level) is not int:
        raise ValueError(f"not a line plan: level {level!r}")
    return Output(index, level, _text(terminator), _text(encoding), _text(errors))


def _route(item: Any, outputs: int) -> Route:
    indices, propagate, filtered = item
    if type(indices) is not list or not all(type(i) is int and 0 <= i < outputs for i in indices):
        raise ValueError(f"not a line plan: route outputs {indices!r}")
    return Route(tuple(indices), _flag(propagate), _flag(filtered))


def _pairs(items: Any) -> tuple[tuple[str, Any], ...]:
    plain = (str, int, float, bool, type(None))
    pairs = tuple((_text(k), v) for k, v in items)
    if not all(type(v) in plain for _, v in pairs):
        raise ValueError("not a line plan: a default that is not a plain value")
    return pairs


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"not a line plan: {value!r} where text was due")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError(f"not a line plan: {value!r} where True or False was due")
    return value
