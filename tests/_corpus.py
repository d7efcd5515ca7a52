"""A large, hostile, deterministic corpus of log records, logged from a pool worker.

Every record field that varies between runs (time, pid, thread) is fixed by a record factory,
so two runs of the same corpus write the same bytes: the line path's output can be compared
byte for byte with the record path's. Objects in ``args`` and ``extra=`` have deterministic
``repr()``s (no memory addresses).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable
from typing import Any

LOGGERS = ("app", "app.db", "app.db.pool", "other", "root", "")
LEVELS = (5, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL, 60)


class Shown:
    """An object with its own ``str`` and ``repr``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __str__(self) -> str:
        return f"shown-{self.n}"

    def __repr__(self) -> str:
        return f"Shown({self.n})"


class BadStr:
    """``str()`` and ``repr()`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _fixed_factory(part: int, base: Any) -> Any:
    counter = itertools.count()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = base(*args, **kwargs)
        n = part * 100_000 + next(counter)
        record.created = 1_700_000_000 + n * 0.1379
        record.msecs = (record.created - int(record.created)) * 1000
        record.relativeCreated = n * 3.25
        record.process, record.thread = 777, 4242
        record.processName, record.threadName = f"Worker-{part}", f"T-{part}"
        return record

    return factory


def _extra(i: int) -> dict[str, Any]:
    return {
        "user": "ü-名前",
        "count": i,
        "ratio": i / 7,
        "nan": float("nan"),
        "items": [1, Shown(i), ("t", None)],
        "when": dt.datetime(2020, 1, 2, 3, 4, 5, 600),
        "nested": {"k": {"z": None, 3: b"\xff"}},
        "level": "shadows a JSON key",
        "custom": f"c{i}",
    }


def _raised(log: logging.Logger, level: int, i: int) -> None:
    try:
        raise ValueError(f"bad \n value {i} \udcff")
    except ValueError:
        log.log(level, "failed %d", i, exc_info=True)


def _huge(i: int) -> str:
    return ("huge " + "x" * 70_000) if i % 5 == 3 else "big-ish " + "y" * 900


#: One way of logging per case: ``case(log, level, i)``.
CASES: tuple[Callable[[logging.Logger, int, int], None], ...] = (
    lambda log, level, i: log.log(level, "plain %d %s", i, "x"),
    lambda log, level, i: log.log(level, "newline\nin\r\nmessage %s", "tab\tend"),
    lambda log, level, i: log.log(level, "surrogates \udc80\ud800 lone %d", i),
    lambda log, level, i: log.log(level, _huge(i)),
    lambda log, level, i: log.log(level, [{"dict": i}, 12345, Shown(i)][i % 3]),  # type: ignore[arg-type]
    lambda log, level, i: log.log(level, "%(a)s and %(b)r", {"a": 1, "b": [1, "two", Shown(i)]}),
    lambda log, level, i: log.log(level, "bad arg %s", BadStr()),
    _raised,
    lambda log, level, i: log.log(level, "args %s", ("a", i), extra={"custom": {"k": [i]}}),
    lambda log, level, i: log.log(level, "with stack %d", i, stack_info=True),
    lambda log, level, i: log.log(level, "extras %d", i, extra=_extra(i)),
    lambda log, level, i: log.log(level, "100% sure %s"),
    lambda log, level, i: log.log(level, "%d %d wrong args", 1),
    lambda log, level, i: log.log(level, "日本語 🎉 %s", "ok", extra={"custom": None}),
    lambda log, level, i: log.log(level, "", extra={"task_name": Shown(i), "custom": [i]}),
)


def log_corpus(part: int, count: int) -> int:
    """Log ``count`` records of the corpus (part ``part``) through every logger and level."""
    base = logging.getLogRecordFactory()
    # Built on LogRecord itself, not on the factory in place: `import ray` (tests/test_ray.py,
    # at collection) installs one that adds a time field to every record.
    logging.setLogRecordFactory(_fixed_factory(part, logging.LogRecord))
    try:
        for i in range(count):
            name = LOGGERS[(i // 14 + part) % len(LOGGERS)]
            log = logging.getLogger(name) if name else logging.getLogger()
            CASES[i % len(CASES)](log, LEVELS[(i // 3) % len(LEVELS)], i)
    finally:
        logging.setLogRecordFactory(base)
    return count
