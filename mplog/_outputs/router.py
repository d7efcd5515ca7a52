"""The router: hands each record, or each run of finished lines, to the handlers it reaches.

Inside the listener only. It walks a logger name up the dotted hierarchy and honours
``propagate`` exactly as ``Logger.callHandlers`` does, without touching the process's global
logger tree (in thread mode that tree belongs to the user's main).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, cast, runtime_checkable

from mplog import _frames
from mplog._lineplan import MORE, LinePlan
from mplog._outputs.plan import build_plan

Lines = Sequence[bytes | memoryview]
#: One record of a run of plain lines (which hold no other newline).
_RECORD = re.compile(rb"[^\n]*\n")


@runtime_checkable
class TakesLines(Protocol):
    """A handler that appends runs of finished lines itself: the listener's fast path.

    Implement ``append_lines`` on a handler whose output must stay consistent with lines
    written around it (a rotating file counting its size, as :class:`mplog.RotatingHandler`
    does); other stream handlers get the lines written to their stream in one write.
    """

    def append_lines(self, lines: Lines) -> None:
        """Append ``lines`` (each complete, newline included) in order; raise on failure."""


class Route(NamedTuple):
    """The handlers, propagation and filters configured for one logger name."""

    handlers: tuple[logging.Handler, ...] = ()
    propagate: bool = True
    filters: tuple[Any, ...] = ()


class Router:
    """Dispatch records to handlers by logger name, like a private logger hierarchy.

    Handler failures are contained: a handler that raises, or reports an error through its
    ``handleError`` (disk full, permission denied, a closed stream), is named once on stderr
    with the reason and counted afterwards; the other handlers keep writing.
    """

    def __init__(
        self,
        root: Route,
        routes: Mapping[str, Route] | None = None,
        *,
        line_handlers: Iterable[logging.StreamHandler[Any]] = (),
    ) -> None:
        self._root = root
        self._routes = dict(routes or {})
        self._line_writers = tuple(
            (h, _line_writer(h), isinstance(h, TakesLines)) for h in line_handlers
        )
        #: Per logger name: the filters of its own route, and the handlers it reaches.
        self._chains: dict[str, tuple[Any, tuple[logging.Handler, ...]]] = {}
        self._reported: set[int] = set()
        self.errors = 0
        for handler in self.handlers:
            self._contain(handler)
        outputs = tuple(self.handlers)
        #: What the logging processes format and route themselves (None: nothing).
        self.plan: LinePlan | None = (
            None if self._line_writers else build_plan(outputs, self._root, self._routes)
        )
        self._outputs = outputs
        self._output_writers = (
            tuple(_line_writer(cast("logging.StreamHandler[Any]", h)) for h in outputs)
            if self.plan
            else ()
        )
        #: Per output: whether its handler takes one record per element (``append_lines``).
        self._by_record = tuple(isinstance(h, TakesLines) for h in outputs)

    @property
    def takes_lines(self) -> bool:
        """Whether processes ship finished lines of one format (``KIND_LINE``) here."""
        return bool(self._line_writers)

    @property
    def handlers(self) -> list[logging.Handler]:
        """Every handler this router writes to, once each."""
        unique: dict[int, logging.Handler] = {}
        for route in (self._root, *self._routes.values()):
            for handler in route.handlers:
                unique.setdefault(id(handler), handler)
        return list(unique.values())

    def handle(self, record: logging.LogRecord, only: Sequence[int] | None = None) -> bool:
        """Pass ``record`` to every handler it reaches (or, with ``only``, to those of the
        plan's outputs a process routed it to); False if any of them failed."""
        chain: Sequence[logging.Handler]
        if only is None:  # one lookup per record (the record path's cost, see writing.py)
            filters, chain = self._chains.get(record.name) or self._route_of(record.name)
            if filters and not _passes(filters, record):
                return True
        else:
            outputs = self._outputs
            chain = [outputs[i] for i in only if 0 <= i < len(outputs)]
        errors = self.errors
        for handler in chain:
            if record.levelno >= handler.level:
                try:
                    handler.handle(record)
                except Exception as exc:  # a broken filter must not stop the listener
                    self._failed(handler, exc)
        return self.errors == errors

    def write_lines(self, run: _frames.LineRun) -> bool:
        """Append finished lines to the stream handlers whose level they meet, in one write
        each; False if any of them failed."""
        ok = True
        lowest = min(run.levels)
        for handler, write, by_record in self._line_writers:
            level = handler.level
            wanted = (
                run.lines
                if lowest >= level
                else [
                    line
                    for levelno, line in zip(run.levels, run.lines, strict=True)
                    if levelno >= level
                ]
            )
            if wanted and run.plain and by_record:  # append_lines takes records, one each
                wanted = _RECORD.findall(wanted[0])
            if wanted:
                try:
                    write(wanted)
                except Exception as exc:
                    self._failed(handler, exc)
                    ok = False
        return ok

    def write_tagged(self, run: _frames.LineRun) -> bool:
        """Append lines tagged with their plan output (``KIND_DEST_LINE`` frames, or a run of
        plain lines after a ``KIND_DEST`` frame), in one write per output; False if any of
        them failed."""
        assert run.dests is not None
        dests = run.dests
        first = dests[0] & ~MORE
        groups: Mapping[int, Lines]
        if run.plain:  # one view of many records, for one output
            by_record = first < len(self._by_record) and self._by_record[first]
            groups = {first: _RECORD.findall(run.lines[0]) if by_record else run.lines}
        elif dests.count(first) == len(dests):  # one output (a JSON file): no regrouping
            groups = {first: run.lines}
        else:
            regrouped: dict[int, list[memoryview]] = {}
            for dest, line in zip(dests, run.lines, strict=True):
                regrouped.setdefault(dest & ~MORE, []).append(line)
            groups = regrouped
        ok = True
        for dest, lines in groups.items():
            if dest >= len(self._output_writers):  # not an output of this plan
                self.errors += 1
                ok = False
                continue
            try:
                self._output_writers[dest](lines)
            except Exception as exc:
                self._failed(self._outputs[dest], exc)
                ok = False
        return ok

    def _route_of(self, name: str) -> tuple[Any, tuple[logging.Handler, ...]]:
        """The filters of ``name``'s own route and the handlers it reaches (cached)."""
        route = self._routes.get(name) or (self._root if name == "root" else None)
        entry = self._chains[name] = (() if route is None else route.filters, self._resolve(name))
        return entry

    def _resolve(self, name: str) -> tuple[logging.Handler, ...]:
        found: list[logging.Handler] = []
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            route = self._routes.get(".".join(parts[:end]))
            if route is not None:
                found.extend(route.handlers)
                if not route.propagate:
                    return tuple(found)
        return (*found, *self._root.handlers)

    def _contain(self, handler: logging.Handler) -> None:
        # Handlers report their own emit() errors through handleError, which prints a
        # traceback per record; the listener reports once per handler instead.
        def handle_error(record: logging.LogRecord) -> None:
            self._failed(handler, sys.exc_info()[1])

        handler.handleError = handle_error  # type: ignore[method-assign]

    def _failed(self, handler: logging.Handler, exc: BaseException | None) -> None:
        self.errors += 1
        if id(handler) not in self._reported:
            self._reported.add(id(handler))
            reason = "unknown error" if exc is None else f"{type(exc).__name__}: {exc}"
            sys.stderr.write(
                f"mplog: handler {handler!r} failed ({reason}); the listener goes on, "
                "and further failures of this handler are counted, not printed\n"
            )

    def reopen(self) -> int:
        """Close and reopen every file handler's file, appending (after ``logrotate`` or
        ``mv`` moved it away, records go to a new file of the same name); return how many."""
        count = 0
        for handler in self.handlers:
            if isinstance(handler, logging.FileHandler):
                try:
                    _reopen(handler)
                    count += 1
                except Exception as exc:
                    self._failed(handler, exc)
        return count

    def close(self) -> None:
        """Flush and close every handler; one failing does not keep the others open."""
        for handler in self.handlers:
            try:
                handler.flush()
                handler.close()
            except Exception as exc:
                self._failed(handler, exc)


def _reopen(handler: logging.FileHandler) -> None:
    handler.acquire()
    try:
        if handler.stream is not None:
            handler.stream.flush()
            handler.stream.close()
            handler.stream = None
        mode, handler.mode = handler.mode, "a"  # "w" would empty a file that did not move
        try:
            reopen = getattr(handler, "_reopen", None)  # RotatingHandler: it measures it too
            if reopen is not None:
                reopen()
            else:
                handler.stream = handler._open()
        finally:
            handler.mode = mode
    finally:
        handler.release()


def _line_writer(handler: logging.StreamHandler[Any]) -> Callable[[Lines], None]:
    if isinstance(handler, TakesLines):
        return handler.append_lines
    return functools.partial(_write_to_stream, handler)


def _write_to_stream(handler: logging.StreamHandler[Any], lines: Lines) -> None:
    stream = handler.stream
    if stream is None and isinstance(handler, logging.FileHandler):  # delay=True
        if handler.mode == "w" and getattr(handler, "_closed", False):
            return  # as FileHandler.emit: a closed "w" handler must not truncate again
        stream = handler.stream = handler._open()
    data = b"".join(lines)
    stream.flush()  # whatever a record wrote through the text layer goes first
    binary = getattr(stream, "buffer", None)
    if binary is None:
        stream.write(data.decode("utf-8"))
    else:
        binary.write(data)
    (binary or stream).flush()


def _passes(filters: Iterable[Any], record: logging.LogRecord) -> bool:
    for f in filters:
        result = f.filter(record) if hasattr(f, "filter") else f(record)
        if not result:
            return False
    return True
