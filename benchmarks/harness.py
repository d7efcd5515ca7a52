"""Run one variant once (a *trial*): time it, measure it, verify its output.

A variant is a function ``run(job) -> Outcome`` that sets up its logging, runs the workload
in ``job.workers`` processes (with :func:`run_tasks`), tears its logging down and says which
files hold the records. The clock runs from before its setup (listener and pool start) until
it returns, by which time every record must be on disk and every file closed; a listener
that runs as its own long-lived program (``mplog serve``, the cookbook's receiver) is timed
from when it listens (``Outcome.service_s``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.memory import PeakTreeMemory
from benchmarks.verify import Verdict, verify
from benchmarks.workload import LoggerFactory, TaskStats, init_worker, run_task, stdlib_logger


@dataclass(frozen=True)
class Job:
    """What a variant is asked to do: ``workers`` processes x ``records`` records each."""

    method: str
    workers: int
    records: int
    workdir: Path

    @property
    def ctx(self) -> Any:
        """The multiprocessing context of the start method."""
        return multiprocessing.get_context(self.method)

    @property
    def log_path(self) -> Path:
        """The one shared log file."""
        return self.workdir / "bench.log"


@dataclass
class Outcome:
    """What a variant returns: the workers' reports and the files holding the records."""

    tasks: list[TaskStats]
    files: list[Path]
    #: CPU seconds of a listener program, when the variant can measure it (network ones).
    listener_cpu_s: float | None = None
    #: Wall and CPU seconds a long-running listener program took to start (interpreter and
    #: imports, about 100 ms and 70 ms here) and, when nothing was left for it to write, to
    #: stop: a service starts and stops once, not per batch of records, so the trial's
    #: clock and CPU leave them out (``benchmarks.variants.network``).
    service_s: float = 0.0
    service_cpu_s: float = 0.0


@dataclass(frozen=True)
class Variant:
    """One way of logging from a process pool, as the suite runs it."""

    name: str
    title: str
    run: Callable[[Job], Outcome]
    requires: str | None = None
    note: str = ""

    def available(self) -> bool:
        """Whether the optional package this variant needs is installed."""
        if self.requires is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.requires) is not None


def children_cpu() -> float:
    """CPU seconds of this process's reaped children so far (a listener process's, when
    taken just before and after its stop, once the pool's workers were reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_tasks(
    job: Job,
    *,
    pool: str = "executor",
    executor: type[concurrent.futures.ProcessPoolExecutor] = concurrent.futures.ProcessPoolExecutor,
    setup: Callable[..., object] | None = None,
    setup_args: tuple[Any, ...] = (),
    logger_factory: LoggerFactory = stdlib_logger,
    processes: int | None = None,
) -> list[TaskStats]:
    """Run the workload's ``job.workers`` tasks in a pool of ``processes`` (default: as many).

    ``pool`` is "executor" (``executor`` class, a ProcessPoolExecutor) or "pool" (mplog.Pool).
    Every worker runs ``setup(*setup_args)`` first; the tasks log via ``logger_factory``.
    """
    size = processes or job.workers
    initargs = (job.ctx.Barrier(size), setup, setup_args)
    calls = [(task, job.records, logger_factory) for task in range(job.workers)]
    if pool == "pool":
        import mplog

        workers = mplog.Pool(size, init_worker, initargs, context=job.ctx)
        try:
            return workers.starmap(run_task, calls, chunksize=1)
        finally:
            workers.close()
            workers.join()
    with executor(size, mp_context=job.ctx, initializer=init_worker, initargs=initargs) as ex:
        futures = [ex.submit(run_task, *call) for call in calls]
        return [future.result() for future in futures]


@dataclass
class Trial:
    """One measured and verified run of one variant."""

    variant: str
    method: str
    workers: int
    records: int
    rep: int
    seconds: float = 0.0
    cpu_us: float = 0.0
    p99_us: float = 0.0
    peak_mb: float = 0.0
    #: The listener program's CPU per record (0: not measured by this variant).
    listener_cpu_us: float = 0.0
    #: CPU seconds of the run's whole process tree (main, the workers, a listener process):
    #: what the run cost the machine, hardly affected by how busy it is otherwise.
    tree_cpu_s: float = 0.0
    verdict: Verdict | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the run finished and its output verified."""
        return not self.error and self.verdict is not None and self.verdict.ok

    @property
    def rate(self) -> float:
        """Records per second, end to end."""
        return self.workers * self.records / self.seconds if self.seconds else 0.0

    def problems(self) -> str:
        """Why the trial failed ("" if it did not)."""
        if self.error:
            return self.error
        return "" if self.verdict is None else self.verdict.problems()


Tamper = Callable[[list[Path]], None]


def run_trial(
    variant: Variant,
    method: str,
    workers: int,
    records: int,
    rep: int = 0,
    *,
    tamper: Tamper | None = None,
) -> Trial:
    """Run ``variant`` once in a fresh directory; ``tamper`` may damage the output first
    (the tests use it to prove that a bad file fails verification)."""
    trial = Trial(variant.name, method, workers, records, rep)
    workdir = Path(tempfile.mkdtemp(prefix="mplog-bench-"))
    job = Job(method, workers, records, workdir)
    saved = _save_logging()
    try:
        outcome = _timed(variant, job, trial)
        if outcome is not None:
            if tamper is not None:
                tamper(outcome.files)
            _measure(trial, outcome)
    finally:
        _restore_logging(saved)
        shutil.rmtree(workdir, ignore_errors=True)
    return trial


def _timed(variant: Variant, job: Job, trial: Trial) -> Outcome | None:
    try:
        with PeakTreeMemory() as memory:
            cpu = tree_cpu_seconds()
            start = time.perf_counter()
            outcome = variant.run(job)
            trial.seconds = time.perf_counter() - start - outcome.service_s
            # Inside the block: the memory sampler is not reaped yet, so it is not counted.
            trial.tree_cpu_s = tree_cpu_seconds() - cpu - outcome.service_cpu_s
    except Exception as exc:
        trial.error = f"{type(exc).__name__}: {exc}"[:200]
        return None
    trial.peak_mb = memory.peak_mb
    return outcome


def _measure(trial: Trial, outcome: Outcome) -> None:
    pids = {stats.task: stats.pid for stats in outcome.tasks}
    trial.verdict = verify(outcome.files, trial.workers, trial.records, pids)
    calls = sum(stats.records for stats in outcome.tasks)
    trial.cpu_us = sum(stats.cpu_seconds for stats in outcome.tasks) / max(calls, 1) * 1e6
    if outcome.listener_cpu_s is not None:
        trial.listener_cpu_us = outcome.listener_cpu_s / max(calls, 1) * 1e6
    samples = sorted(ns for stats in outcome.tasks for ns in stats.latencies_ns)
    trial.p99_us = percentile(samples, 0.99) / 1e3


def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and by its children that have been reaped
    (a run's pool workers and listener process are, by the time it returns)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of an ordered sequence (nearest rank); 0 if empty."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return float(ordered[index])


def median(values: Sequence[float]) -> float:
    """The median, 0 for no values."""
    return statistics.median(values) if values else 0.0


def _save_logging() -> tuple[list[logging.Handler], int]:
    root = logging.getLogger()
    return list(root.handlers), root.level


def _restore_logging(saved: tuple[list[logging.Handler], int]) -> None:
    """Undo whatever a variant left on the root logger of this process."""
    handlers, level = saved
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
