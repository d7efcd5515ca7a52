"""Shared fixtures: start methods, listener modes, a clean logging state for every test."""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._listener import supervisor as _supervisor
from mplog._worker import context as _context
from mplog._worker import handler as worker
from tests._helpers import FMT

START_METHODS = ("fork", "spawn", "forkserver")
MODES = ("thread", "process")


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> str:
    """Each start method in turn."""
    return str(request.param)


@pytest.fixture
def ctx(start_method: str) -> Any:
    """The standard library context of ``start_method``."""
    return multiprocessing.get_context(start_method)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each listener mode in turn: a thread in main, or a process of its own."""
    return str(request.param)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """This test's own log file."""
    return tmp_path / "app.log"


@pytest.fixture
def listen(log_path: Path) -> Callable[..., mplog.Listener]:
    """Start a file listener on ``log_path`` with the test format and root level INFO."""

    def start(mode: str = "thread", **kwargs: Any) -> mplog.Listener:
        kwargs.setdefault("fmt", FMT)
        kwargs.setdefault("level", "INFO")
        return mplog.setup_listener(log_path, mode=mode, **kwargs)

    return start


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    """Save the logging state, and after the test stop every listener and restore it.

    Every test starts with the standard LogRecord factory: importing ``ray`` (as collecting
    tests/test_ray.py does, in every xdist worker) installs one that adds a time-dependent
    ``_ray_timestamp_ns`` attribute to every record, which JSON lines then carry. The
    context's field providers are restored too: an engine's ``install()`` adds one in main
    (the Dask benchmark's trial, run by tests/test_benchmarks_engines.py, leaves it)."""
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    root = logging.getLogger()
    handlers = list(root.handlers)
    root_level = root.level
    loggers = {
        name: (logger.level, logger.propagate, logger.disabled, list(logger.handlers))
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    active = worker._active
    providers = list(_context._providers)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        for listener in list(_supervisor._running):
            listener.stop()
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            level, propagate, disabled, logger_handlers = loggers.get(
                name, (logging.NOTSET, True, False, [])
            )
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled
            logger.handlers[:] = logger_handlers
        worker.set_active(active)
        _context._providers[:] = providers
        signal.signal(signal.SIGTERM, sigterm)
        logging.setLogRecordFactory(factory)
