"""The workload, on the worker side: N processes each log M records through a named logger.

Every variant runs :func:`run_task` once per worker. A barrier makes all workers start
logging together (and, in a pool, makes every task land on a different process). Each record
carries its task (worker) id, its sequence number and a payload derived from both, so that
``benchmarks.verify`` can tell a lost, duplicated, reordered or torn record from a good one.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOGGER_NAME = "bench.worker"
FORMAT = "%(asctime)s %(process)d %(processName)s %(name)s %(levelname)s %(message)s"
MESSAGE = "task %d step %d value %.3f payload=%s"
#: One call in SAMPLE_EVERY is timed with perf_counter_ns for the latency percentiles.
SAMPLE_EVERY = 16
#: Workers wait at most this long for each other before the run is declared broken.
BARRIER_TIMEOUT = 120.0

#: A zero-argument function returning ``(logger, message)``: ``logger.info(message, *args)``.
LoggerFactory = Callable[[], tuple[Any, str]]


def payload(task: int) -> str:
    """The payload text of every record of ``task`` (60 characters, no spaces)."""
    return f"w{task:04d}-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS"


def value(step: int) -> float:
    """The ``value`` field of record ``step`` (exact in binary, so its text is predictable)."""
    return step / 8


@dataclass(frozen=True)
class TaskStats:
    """What one worker reports back: who it was and what its logging calls cost."""

    task: int
    pid: int
    records: int
    cpu_seconds: float
    latencies_ns: tuple[int, ...]


_barrier: Any = None


def init_worker(
    barrier: Any, setup: Callable[..., object] | None = None, setup_args: tuple[Any, ...] = ()
) -> None:
    """Pool initializer: keep the start barrier, then run the variant's logging setup."""
    global _barrier
    _barrier = barrier
    if setup is not None:
        setup(*setup_args)


def stdlib_logger() -> tuple[logging.Logger, str]:
    """The standard library's named logger and %-style message (most variants)."""
    return logging.getLogger(LOGGER_NAME), MESSAGE


def run_task(task: int, records: int, logger_factory: LoggerFactory = stdlib_logger) -> TaskStats:
    """Wait for the other workers, log ``records`` records as ``task``, flush, report."""
    if _barrier is not None:
        _barrier.wait(BARRIER_TIMEOUT)
    log, message = logger_factory()
    cpu, samples = _log_loop(log.info, message, task, records)
    flush = getattr(log, "flush", None)
    if flush is not None:
        flush()
    for handler in logging.getLogger().handlers:
        handler.flush()
    return TaskStats(task, os.getpid(), records, cpu, tuple(samples))


def _log_loop(
    info: Callable[..., object], message: str, task: int, records: int
) -> tuple[float, list[int]]:
    """The measured loop: thread CPU time of all calls, wall latency of every 16th."""
    text = payload(task)
    clock = time.perf_counter_ns
    samples: list[int] = []
    start = time.thread_time()
    for step in range(records):
        if step % SAMPLE_EVERY:
            info(message, task, step, step / 8, text)
        else:
            before = clock()
            info(message, task, step, step / 8, text)
            samples.append(clock() - before)
    return time.thread_time() - start, samples


def file_handler(path: str | os.PathLike[str]) -> logging.Handler:
    """A plain ``logging.FileHandler`` with the benchmark's format."""
    return formatted(logging.FileHandler(path, "a", encoding="utf-8"))


def own_file(directory: str) -> None:
    """Worker setup of the separate-files baseline: a FileHandler on a file of its own.

    Here, with the workload, rather than with the variants: spawned workers import the
    module of their setup function, and the baseline's must cost them no more than mplog's.
    """
    install_root_handler(file_handler(os.path.join(directory, f"worker-{os.getpid()}.log")))


def queue_worker(queue: Any) -> None:
    """Worker setup of both cookbook recipes: a QueueHandler on the root logger."""
    import logging.handlers

    install_root_handler(logging.handlers.QueueHandler(queue))


def formatted(handler: logging.Handler) -> logging.Handler:
    """``handler`` with the benchmark's line format."""
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def install_root_handler(handler: logging.Handler) -> None:
    """Make ``handler`` the root logger's only handler, at level INFO (replaces inherited ones)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
