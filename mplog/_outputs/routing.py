"""Where records go inside the listener: destinations and the router that applies them.

A *destination* is a small picklable description (a file, handler objects or a factory, or a
``logging.config.dictConfig`` dict) that builds a :class:`Router` wherever the listener runs.
The router hands each record to the handlers configured for its logger name, walking up the
dotted hierarchy and honouring ``propagate`` exactly as ``Logger.callHandlers`` does, without
touching the process's global logger tree (in thread mode that tree belongs to the user's main).
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mplog import _protocol
from mplog._outputs.jsonlines import JsonFormatter
from mplog._outputs.rotation import RotatingHandler, Rotation

DEFAULT_FORMAT = "%(asctime)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"


def to_level(level: int | str) -> int:
    """A level number from a number or a name ("INFO", "debug"); a clear error otherwise."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"unknown logging level {level!r}: use a number or one of DEBUG, INFO, WARNING, "
        "ERROR, CRITICAL"
    )


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
        self._line_handlers = tuple(line_handlers)
        self._chains: dict[str, tuple[logging.Handler, ...]] = {}
        self._reported: set[int] = set()
        self.errors = 0
        for handler in self.handlers:
            self._contain(handler)

    @property
    def handlers(self) -> list[logging.Handler]:
        """Every handler this router writes to, once each."""
        unique: dict[int, logging.Handler] = {}
        for route in (self._root, *self._routes.values()):
            for handler in route.handlers:
                unique.setdefault(id(handler), handler)
        return list(unique.values())

    def handle(self, record: logging.LogRecord) -> bool:
        """Pass ``record`` to every handler it reaches; False if any of them failed."""
        route = self._routes.get(record.name) or (self._root if record.name == "root" else None)
        if route is not None and route.filters and not _passes(route.filters, record):
            return True
        errors = self.errors
        for handler in self._chain(record.name):
            if record.levelno >= handler.level:
                try:
                    handler.handle(record)
                except Exception as exc:  # a broken filter must not stop the listener
                    self._failed(handler, exc)
        return self.errors == errors

    def write_lines(self, run: _protocol.LineRun) -> bool:
        """Append finished lines to the stream handlers whose level they meet, in one write
        each; False if any of them failed."""
        ok = True
        lowest = min(run.levels)
        for handler in self._line_handlers:
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
            if wanted:
                try:
                    _append(handler, wanted)
                except Exception as exc:
                    self._failed(handler, exc)
                    ok = False
        return ok

    def _chain(self, name: str) -> tuple[logging.Handler, ...]:
        chain = self._chains.get(name)
        if chain is None:
            chain = self._chains[name] = self._resolve(name)
        return chain

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

    def close(self) -> None:
        """Flush and close every handler; one failing does not keep the others open."""
        for handler in self.handlers:
            try:
                handler.flush()
                handler.close()
            except Exception as exc:
                self._failed(handler, exc)


def _append(handler: logging.StreamHandler[Any], lines: Sequence[bytes | memoryview]) -> None:
    append_lines = getattr(handler, "append_lines", None)
    if append_lines is not None:  # a rotating file counts and rotates between lines
        append_lines(lines)
        return
    stream = handler.stream
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


def _formatter(fmt: str, datefmt: str | None, style: str) -> logging.Formatter:
    if style not in ("%", "{", "$"):
        raise ValueError(f"style must be '%', '{{' or '$', got {style!r}")
    return logging.Formatter(fmt, datefmt, style)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FileDestination:
    """One file every process writes into, plus an optional console handler."""

    filename: str | None
    console: int | None = None
    fmt: str = DEFAULT_FORMAT
    datefmt: str | None = None
    style: str = "%"
    file_mode: str = "a"
    #: How the file rotates (None: a plain FileHandler).
    rotation: Rotation | None = None
    json: bool = False

    def __post_init__(self) -> None:
        _formatter(self.fmt, self.datefmt, self.style)  # a bad style fails here, in main

    def build(self) -> Router:
        """Open the file (and console) handlers."""
        text = _formatter(self.fmt, self.datefmt, self.style)
        handlers: list[logging.StreamHandler[Any]] = []
        if self.filename is not None:
            file = self._file_handler()
            file.setFormatter(JsonFormatter() if self.json else text)
            handlers.append(file)
        if self.console is not None:
            console = logging.StreamHandler(sys.stderr)
            console.setLevel(self.console)
            console.setFormatter(text)
            handlers.append(console)
        # JSON needs the record's fields, not a finished line: processes ship records then.
        return Router(Route(tuple(handlers)), line_handlers=() if self.json else handlers)

    def _file_handler(self) -> logging.FileHandler:
        assert self.filename is not None
        if self.rotation is not None:
            options = self.rotation.handler_options()
            return RotatingHandler(self.filename, mode=self.file_mode, **options)
        return logging.FileHandler(
            self.filename, self.file_mode, encoding="utf-8", errors="backslashreplace"
        )

    def line_format(self) -> tuple[str, str | None, str] | None:
        """The format processes use to ship finished lines to this destination."""
        return None if self.json else (self.fmt, self.datefmt, self.style)


HandlerSource = Iterable[logging.Handler] | Callable[[], Iterable[logging.Handler]]


@dataclass(frozen=True)
class HandlersDestination:
    """Handler objects, or a zero-argument factory returning them (for a listener process)."""

    source: HandlerSource

    def build(self) -> Router:
        """Use the handlers, calling the factory first if one was given."""
        handlers = tuple(self.source() if callable(self.source) else self.source)
        for handler in handlers:
            if not isinstance(handler, logging.Handler):
                raise TypeError(
                    f"handlers must be logging.Handler objects, got {type(handler).__name__}"
                )
        return Router(Route(handlers))

    def line_format(self) -> None:
        """Handlers format records themselves: processes ship records."""
        return None


@dataclass(frozen=True)
class ConfigDestination:
    """A ``logging.config.dictConfig`` dict, applied in the listener."""

    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.config, Mapping):
            raise TypeError(f"config must be a dictConfig dict, got {type(self.config).__name__}")
        if self.config.get("version") != 1:
            raise ValueError("config must be a dictConfig dict with 'version': 1")
        if self.config.get("incremental"):
            raise ValueError("config: 'incremental': True is not supported by setup_listener")

    def line_format(self) -> None:
        """Handlers format records themselves: processes ship records."""
        return None

    def levels(self) -> dict[str, int]:
        """The levels the config gives loggers (``""`` is the root), for the logging processes."""
        levels: dict[str, int] = {}
        sections = [("", self.config.get("root", {}))]
        sections += list(self.config.get("loggers", {}).items())
        for name, section in sections:
            if "level" in section:
                levels[name] = to_level(section["level"])
        return levels

    def build(self) -> Router:
        """Build formatters, filters and handlers, then the routes of ``loggers`` and ``root``."""
        configurator = logging.config.DictConfigurator(copy.deepcopy(self.config))
        cfg = configurator.config
        for section, make in (
            ("formatters", configurator.configure_formatter),
            ("filters", configurator.configure_filter),
        ):
            items = cfg.get(section, {})
            for name in items:
                items[name] = _configured(section, name, make, items[name])
        _configure_handlers(configurator, cfg.get("handlers", {}))
        routes = {name: _route(cfg, section) for name, section in cfg.get("loggers", {}).items()}
        return Router(_route(cfg, cfg.get("root", {})), routes)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a dictConfig dict from a ``.toml`` or ``.json`` file, with clear errors."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(f"config file {os.fspath(path)!r}: use a .toml or .json file")
    with open(path, "rb") as file:
        try:
            loaded = _toml_loads(file.read()) if suffix == ".toml" else json.load(file)
        except ValueError as exc:
            raise ValueError(f"config file {os.fspath(path)!r} is not valid: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ValueError(f"config file {os.fspath(path)!r} must hold a table/object at the top")
    return loaded


def _toml_loads(data: bytes) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError("TOML needs Python 3.11+, or `pip install tomli`") from None
    return tomllib.loads(data.decode("utf-8"))


def _configured(section: str, name: str, make: Callable[[Any], Any], spec: Any) -> Any:
    try:
        return make(spec)
    except Exception as exc:
        raise ValueError(f"config: unable to configure {section[:-1]} {name!r}: {exc}") from exc


def _configure_handlers(configurator: Any, handlers: Any) -> None:
    # Handlers may name another handler as their target (MemoryHandler): retry those last,
    # as dictConfig does.
    deferred = []
    for name in sorted(handlers):
        try:
            handlers[name] = configurator.configure_handler(handlers[name])
        except Exception as exc:
            if "target not configured yet" in str(exc.__cause__):
                deferred.append(name)
                continue
            raise ValueError(f"config: unable to configure handler {name!r}: {exc}") from exc
        handlers[name].name = name
    for name in deferred:
        handlers[name] = _configured(
            "handlers", name, configurator.configure_handler, handlers[name]
        )
        handlers[name].name = name


def _route(cfg: Any, section: Mapping[str, Any]) -> Route:
    def lookup(kind: str, name: str) -> Any:
        try:
            return cfg[kind][name]
        except KeyError:
            raise ValueError(f"config: {kind[:-1]} {name!r} is used but not defined") from None

    return Route(
        handlers=tuple(lookup("handlers", n) for n in section.get("handlers", ())),
        propagate=bool(section.get("propagate", True)),
        filters=tuple(lookup("filters", n) for n in section.get("filters", ())),
    )


Destination = FileDestination | HandlersDestination | ConfigDestination
