"""mplog: a listener (thread in main, or a process of its own) and a configured pool."""

from __future__ import annotations

import logging
from typing import Literal

import mplog
from benchmarks.harness import Job, Outcome, Variant, children_cpu, run_tasks
from benchmarks.workload import FORMAT


def _with_listener(job: Job, mode: Literal["thread", "process"], pool: str) -> Outcome:
    listener = mplog.setup_listener(job.log_path, level=logging.INFO, fmt=FORMAT, mode=mode)
    try:
        tasks = run_tasks(job, pool=pool, executor=mplog.ProcessPoolExecutor)
    finally:
        before = children_cpu()  # the pool's workers are reaped: what follows is the listener's
        listener.stop()
    cpu = children_cpu() - before if mode == "process" else None
    return Outcome(tasks, [job.log_path], listener_cpu_s=cpu)


def mplog_thread(job: Job) -> Outcome:
    """mplog, listener thread in main, mplog.ProcessPoolExecutor."""
    return _with_listener(job, "thread", "executor")


def mplog_process(job: Job) -> Outcome:
    """mplog, listener process, mplog.ProcessPoolExecutor."""
    return _with_listener(job, "process", "executor")


def mplog_pool(job: Job) -> Outcome:
    """mplog, listener thread in main, mplog.Pool."""
    return _with_listener(job, "thread", "pool")


VARIANTS = (
    Variant("mplog-thread", "mplog, thread listener, ProcessPoolExecutor", mplog_thread),
    Variant("mplog-process", "mplog, listener process, ProcessPoolExecutor", mplog_process),
    Variant("mplog-pool", "mplog, thread listener, Pool", mplog_pool),
)
