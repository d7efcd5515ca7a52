"""Destinations: small picklable descriptions of where records go, built into a Router
wherever the listener runs (in main's thread or in the listener process).

A file (plus console), handler objects or a factory, or a ``logging.config.dictConfig``
dict with per-logger routing.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mplog._outputs.jsonlines import JsonFormatter
from mplog._outputs.rotation import RotatingHandler
from mplog._outputs.router import Route, Router
from mplog._outputs.schedule import Rotation
from mplog._settings import DEFAULT_FORMAT, LineFormat, to_level


class Destination(Protocol):
    """Where the listener writes. Picklable: it travels to a listener process."""

    def build(self) -> Router:
        """Open the handlers (in the listener) and return the router that feeds them."""

    def line_format(self) -> LineFormat | None:
        """The ``(fmt, datefmt, style)`` processes format finished lines with, when the
        listener only appends them; None when it needs records (its handlers format)."""

    def levels(self) -> dict[str, int]:
        """Logger levels the destination sets (``""`` is the root), applied in main and so
        in every process."""


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

    def line_format(self) -> LineFormat | None:
        """The format processes use to ship finished lines to this destination."""
        return None if self.json else (self.fmt, self.datefmt, self.style)

    def levels(self) -> dict[str, int]:
        """A file sets no logger levels."""
        return {}


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

    def levels(self) -> dict[str, int]:
        """Handlers set no logger levels."""
        return {}


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
    """Configure every handler, each after the handler it names as its ``target``
    (MemoryHandler), which dictConfig resolves among those already configured."""
    for name in _targets_first(handlers):
        handlers[name] = _configured(
            "handlers", name, configurator.configure_handler, handlers[name]
        )
        handlers[name].name = name


def _targets_first(handlers: Mapping[str, Any]) -> list[str]:
    order: list[str] = []

    def place(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in chain:
            raise ValueError(f"config: handlers name each other as target: {' -> '.join(chain)}")
        spec = handlers[name]
        target = spec.get("target") if isinstance(spec, Mapping) else None
        if target is not None:
            if target not in handlers:
                raise ValueError(f"config: handler {name!r} targets {target!r}, not defined")
            place(target, (*chain, name))
        order.append(name)

    for name in sorted(handlers):
        place(name, ())
    return order


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
