"""What the standard library offers: the logging cookbook's two queue recipes, and the
two baselines (a file per worker, and one process writing preformatted lines).
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import time
from typing import Any

from benchmarks.harness import Job, Outcome, Variant, run_tasks
from benchmarks.workload import (
    LOGGER_NAME,
    MESSAGE,
    file_handler,
    own_file,
    queue_worker,
)


def cookbook_thread(job: Job) -> Outcome:
    """Cookbook: QueueHandler in workers, QueueListener thread in main, one mp.Queue."""
    queue = job.ctx.Queue(-1)
    handler = file_handler(job.log_path)
    listener = logging.handlers.QueueListener(queue, handler)
    listener.start()
    try:
        tasks = run_tasks(job, setup=queue_worker, setup_args=(queue,))
    finally:
        listener.stop()
        handler.close()
    return Outcome(tasks, [job.log_path])


def listener_process(queue: Any, path: str) -> None:
    """The cookbook's listener process: handle records from the queue until None."""
    handler = file_handler(path)
    while (record := queue.get()) is not None:
        handler.handle(record)
    handler.close()


def cookbook_process(job: Job) -> Outcome:
    """Cookbook: QueueHandler in workers, a listener *process* draining the mp.Queue."""
    queue = job.ctx.Queue(-1)
    listener = job.ctx.Process(target=listener_process, args=(queue, str(job.log_path)))
    listener.start()
    try:
        tasks = run_tasks(job, setup=queue_worker, setup_args=(queue,))
    finally:
        queue.put(None)
        listener.join()
    return Outcome(tasks, [job.log_path])


def separate_files(job: Job) -> Outcome:
    """Baseline (the ceiling): every worker writes its own file with a plain FileHandler."""
    tasks = run_tasks(job, setup=own_file, setup_args=(str(job.workdir),))
    return Outcome(tasks, sorted(job.workdir.glob("worker-*.log")))


class PreformattedWriter:
    """Writes the benchmark's lines straight to a buffered file, without ``logging``."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8", buffering=1 << 16)  # noqa: SIM115
        name = multiprocessing.current_process().name
        self.tail = f" {os.getpid()} {name} {LOGGER_NAME} INFO "
        self.second = -1
        self.stamp = ""

    def info(self, message: str, *args: Any) -> None:
        """Append one line in the benchmark's format."""
        now = time.time()
        second = int(now)
        if second != self.second:
            self.second = second
            self.stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        millis = int((now - second) * 1000)
        self.file.write(f"{self.stamp},{millis:03d}{self.tail}{message % args}\n")

    def flush(self) -> None:
        """Push the buffer to the file."""
        self.file.flush()


_writer: PreformattedWriter | None = None


def open_writer(path: str) -> None:
    """Worker setup of the I/O floor: open the one writer of this process."""
    global _writer
    _writer = PreformattedWriter(path)


def preformatted_writer() -> tuple[PreformattedWriter, str]:
    """Logger factory of the I/O floor."""
    assert _writer is not None
    return _writer, MESSAGE


def io_floor(job: Job) -> Outcome:
    """Baseline (the floor): one process writes all N x M lines, preformatted, buffered."""
    tasks = run_tasks(
        job,
        processes=1,
        setup=open_writer,
        setup_args=(str(job.log_path),),
        logger_factory=preformatted_writer,
    )
    return Outcome(tasks, [job.log_path])


VARIANTS = (
    Variant(
        "cookbook-thread",
        "cookbook: QueueHandler + QueueListener thread",
        cookbook_thread,
        note="the reference: ratios are to this one",
    ),
    Variant(
        "cookbook-process",
        "cookbook: QueueHandler + listener process",
        cookbook_process,
    ),
    Variant(
        "separate-files",
        "FileHandler, a file per worker (ceiling)",
        separate_files,
        note="N files, not one",
    ),
    Variant(
        "io-floor",
        "one process writing preformatted lines (floor)",
        io_floor,
        note="one process, no logging module",
    ),
)
