"""Dask workers logging into one file: through mplog vs Dask's own ``forward_logging()``.

Each trial starts a fresh ``LocalCluster(processes=True)`` (not timed: both variants pay it),
then times from before the logging setup until every record is in the file: mplog until
``listener.stop()`` returns; ``forward_logging`` until the client-side file holds every
record (or nothing new arrived for ``QUIET`` seconds: the rest is lost). Every worker runs the
suite's workload (``benchmarks.workload.run_task``: format, message, payload), so the file
is verified by ``benchmarks.verify`` like the main suite's.

A *kill* trial makes task 0 log ``records // 2`` records and then SIGKILL its own worker
process (``allowed-failures`` 0: Dask does not rerun it): every one of those calls had
returned, so each record missing from the file is a record lost with the worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.engines.common import Result, benchmark_lines, wait_for_lines
from benchmarks.verify import verify
from benchmarks.workload import FORMAT, LOGGER_NAME, TaskStats, formatted, run_task

#: Seconds without a new line after which forward_logging's missing records count as lost.
QUIET = 5.0


def run_or_die(task: int, records: int, die_after: int | None) -> TaskStats:
    """The workload; with ``die_after``, log that many records, then SIGKILL this process.
    Dask names its worker processes with spaces, which the suite's line format excludes."""
    multiprocessing.current_process().name = f"DaskWorker-{task}"
    if die_after is None:
        return run_task(task, records)
    run_task(task, die_after)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def set_level_info() -> None:
    """In a worker: let the benchmark's logger through (forward_logging needs it)."""
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO)


def _cluster(workers: int) -> Any:
    import dask
    from distributed import LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )


def _submit(client: Any, workers: int, records: int, kill: bool) -> list[Any]:
    from distributed import wait

    futures = [
        client.submit(
            run_or_die, task, records, records // 2 if kill and task == 0 else None, pure=False
        )
        for task in range(workers)
    ]
    wait(futures, timeout=600)
    return [f.result() for f in futures if f.status == "finished"]


Trial = tuple[float, list[TaskStats]]


def mplog_trial(client: Any, path: Path, workers: int, records: int, kill: bool) -> Trial:
    import mplog
    import mplog.dask

    start = time.perf_counter()
    with mplog.setup_listener(path, fmt=FORMAT, level="INFO") as listener:
        mplog.dask.install(client)
        client.run(set_level_info)
        stats = _submit(client, workers, records, kill)
        listener.stop()
    return time.perf_counter() - start, stats


def forward_trial(client: Any, path: Path, workers: int, records: int, kill: bool) -> Trial:
    logger = logging.getLogger(LOGGER_NAME)
    handler = formatted(logging.FileHandler(path))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        start = time.perf_counter()
        client.run(set_level_info)
        client.forward_logging(LOGGER_NAME, level=logging.INFO)
        stats = _submit(client, workers, records, kill)
        expected = workers * records - (records - records // 2 if kill else 0)
        end = wait_for_lines(path, expected, QUIET)
        client.unforward_logging(LOGGER_NAME)
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate = True
    return end - start, stats


VARIANTS: dict[str, Callable[[Any, Path, int, int, bool], Trial]] = {
    "dask-mplog": mplog_trial,
    "dask-forward_logging": forward_trial,
}


def trial(variant: str, workdir: Path, workers: int, records: int, kill: bool) -> Result:
    """One timed, verified trial of ``variant`` on a fresh cluster."""
    from distributed import Client

    path = workdir / f"{variant}-{'kill' if kill else 'run'}.log"
    with _cluster(workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers, timeout=120)
        elapsed, stats = VARIANTS[variant](client, path, workers, records, kill)
    pids = {s.task: s.pid for s in stats}
    verdict = verify([benchmark_lines(path)], workers, records, pids)
    never_logged = records - records // 2 if kill else 0
    return Result.of(variant, kill, workers, records, elapsed, verdict, never_logged)
