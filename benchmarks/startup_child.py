"""The spawned side of ``benchmarks.startup``: kept to what every pool worker imports anyway.

A spawned ``ProcessPoolExecutor`` worker imports ``concurrent.futures.process`` (it unpickles
``_process_worker`` from there) and, through it, ``logging``; this module imports nothing
more, so whatever mplog's initializer imports is counted as mplog's.
"""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401  # what every pool worker imports anyway
import logging
import os
import time

TYPE_CHECKING = False  # typing itself is not among a pool worker's imports
if TYPE_CHECKING:
    from typing import Any

FORMAT = "%(asctime)s %(process)d %(processName)s %(name)s %(levelname)s %(message)s"


def child(kind: str, setup: Any, conn: Any) -> None:
    """The spawned process: set up logging (``setup``: a path, or mplog's initializer),
    log one record, report the phases' end times and the process's CPU time."""
    entered = time.perf_counter_ns()
    if kind == "file":
        handler = logging.FileHandler(setup, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        setup()
    configured = time.perf_counter_ns()
    logging.getLogger("bench.start").info("started %d", os.getpid())
    first = time.perf_counter_ns()
    conn.send((entered, configured, first, time.process_time_ns()))
    conn.close()
