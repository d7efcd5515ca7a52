"""What users pick from PyPI: loguru (enqueue=True), concurrent-log-handler, and
multiprocessing-logging. Each is imported only when its variant runs.
"""

from __future__ import annotations

import logging
from typing import Any

from benchmarks.harness import Job, Outcome, Variant, run_tasks
from benchmarks.workload import LOGGER_NAME, file_handler, formatted, install_root_handler

#: The benchmark's line format, in loguru's terms.
LOGURU_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss,SSS} {process.id} {process.name} {extra[name]} {level} {message}"
)
LOGURU_MESSAGE = "task {} step {} value {:.3f} payload={}"

_loguru: Any = None


def keep_loguru(logger: Any) -> None:
    """Worker setup: use the logger passed from main (loguru's documented way for spawn)."""
    global _loguru
    _loguru = logger


def loguru_logger() -> tuple[Any, str]:
    """Logger factory: loguru's logger bound to the benchmark's name, {}-style message."""
    return _loguru.bind(name=LOGGER_NAME), LOGURU_MESSAGE


def loguru_enqueue(job: Job) -> Outcome:
    """loguru with ``enqueue=True``: workers put records on a queue, a thread in main writes."""
    from loguru import logger

    logger.remove()
    sink = logger.add(
        str(job.log_path), format=LOGURU_FORMAT, level="INFO", enqueue=True, context=job.ctx
    )
    try:
        tasks = run_tasks(
            job, setup=keep_loguru, setup_args=(logger,), logger_factory=loguru_logger
        )
    finally:
        logger.remove(sink)  # drains the queue, joins the writer thread, closes the file
    return Outcome(tasks, [job.log_path])


def concurrent_handler(path: str) -> None:
    """Worker setup: a ConcurrentRotatingFileHandler (file lock per record), no rotation."""
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    install_root_handler(formatted(ConcurrentRotatingFileHandler(path, "a", encoding="utf-8")))


def concurrent_log_handler(job: Job) -> Outcome:
    """concurrent-log-handler: every worker appends to the shared file under a lock file."""
    tasks = run_tasks(job, setup=concurrent_handler, setup_args=(str(job.log_path),))
    return Outcome(tasks, [job.log_path])


def multiprocessing_logging(job: Job) -> Outcome:
    """multiprocessing-logging: main's handlers wrapped to read an mp.Queue in a thread.

    Children find the wrapper only by inheriting it through fork. Under spawn it is run all
    the same, as a user would, and its records are lost: the suite reports that as a failure.
    """
    import multiprocessing_logging as mpl

    install_root_handler(file_handler(job.log_path))
    mpl.install_mp_handler()
    try:
        tasks = run_tasks(job)
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()  # joins the receiving thread once the queue is empty
    return Outcome(tasks, [job.log_path])


VARIANTS = (
    Variant(
        "loguru",
        "loguru, enqueue=True",
        loguru_enqueue,
        requires="loguru",
    ),
    Variant(
        "concurrent-log-handler",
        "concurrent-log-handler in every worker",
        concurrent_log_handler,
        requires="concurrent_log_handler",
    ),
    Variant(
        "mp-logging",
        "multiprocessing-logging (fork only)",
        multiprocessing_logging,
        requires="multiprocessing_logging",
        note="fork only: under spawn the workers' records are lost",
    ),
)
