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
