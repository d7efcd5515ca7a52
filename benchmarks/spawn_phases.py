"""Where a run of many spawned workers spends its CPU: start, logging, exit, listener.

The start-up section's rows (32 spawned workers x 4,000 records) compare whole runs; this
splits each run's CPU time by phase, for a file per worker and for mplog's listener in a
thread or a process, alternating, medians of ``--reps``::

    python -m benchmarks.spawn_phases [--workers 32] [--records 4000] [--reps 5]

- ``start``: each worker's CPU from its creation to the end of its task (interpreter, imports,
  unpickling, logging set-up, the barrier, the task around the loop), the loop excepted;
- ``log``: the logging loop (the calling thread's CPU, as the suite's ``CPU µs/call``);
- ``exit``: the workers' CPU after their task (pool shutdown, finalizers, interpreter
  teardown): their total from the kernel (``RUSAGE_CHILDREN`` once reaped) minus the above;
- ``main``: the main process (a thread listener's CPU is in it);
- ``listener``: a listener process's CPU (reaped at ``stop()``).

The last columns compare each round with the file-per-worker run of the same round (the
kinds alternate, so a slow spell of the machine hits the pair alike): ``speed``, its wall
time over the kind's (above 1: faster than a file per worker), and ``CPU``, the kind's CPU
of all phases over the file per worker's; medians over the rounds, with their range.

Every figure is a sum over the run's workers in ms, divided by the number of workers, so
the columns add up to the CPU each worker costs. CPU time hardly depends on the machine's
load; the wall time does (shown last). A run that lost a record fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import multiprocessing
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.workload import FORMAT, TaskStats, init_worker, own_file, run_task

KINDS = ("separate-files", "mplog-thread", "mplog-process")
PHASES = ("start", "log", "exit", "main", "listener", "wall")
#: Per round, against the same round's file per worker: wall time ratio, CPU ratio.
PAIRED = ("speed", "cpu")


def timed_task(task: int, records: int) -> tuple[TaskStats, float]:
    """The suite's task, and this process's CPU time when it ends."""
    stats = run_task(task, records)
    return stats, time.process_time()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _main_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(kind: str, workers: int, records: int) -> dict[str, float]:
    """One run of ``kind``: each phase's CPU in ms per worker (and the wall time in s)."""
    import mplog

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="mplog-phases-") as tmp:
        main, children, started = _main_cpu(), _children_cpu(), time.perf_counter()
        listener = None
        executor: type[concurrent.futures.ProcessPoolExecutor] = mplog.ProcessPoolExecutor
        setup, args = None, ()
        if kind == "separate-files":
            executor, setup, args = concurrent.futures.ProcessPoolExecutor, own_file, (tmp,)
        else:
            mode = "thread" if kind == "mplog-thread" else "process"
            path = Path(tmp) / "mplog.log"
            listener = mplog.setup_listener(path, level=logging.INFO, fmt=FORMAT, mode=mode)
        initargs = (ctx.Barrier(workers), setup, args)
        with executor(workers, mp_context=ctx, initializer=init_worker, initargs=initargs) as ex:
            futures = [ex.submit(timed_task, task, records) for task in range(workers)]
            results = [future.result() for future in futures]
        reaped = _children_cpu()
        if listener is not None:
            listener.stop()
        wall = time.perf_counter() - started
        written = sum(f.read_bytes().count(b"\n") for f in Path(tmp).glob("*.log"))
        if written != workers * records:
            raise RuntimeError(f"{kind}: {written} of {workers * records} records written")
        at_end = sum(cpu for _, cpu in results)
        logging_cpu = sum(stats.cpu_seconds for stats, _ in results)
        seconds = {
            "start": at_end - logging_cpu,
            "log": logging_cpu,
            "exit": reaped - children - at_end,
            "main": _main_cpu() - main,
            "listener": _children_cpu() - reaped,
        }
    return {**{k: v / workers * 1e3 for k, v in seconds.items()}, "wall": wall}


def measure(workers: int, records: int, reps: int) -> dict[str, dict[str, Any]]:
    """Medians per kind and phase over ``reps`` rounds (the kinds alternate in each), and
    the paired ratios (``PAIRED``) as ``(median, lowest, highest)``."""
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for _ in range(reps):
        for kind in KINDS:
            runs[kind].append(run(kind, workers, records))
    for rows in runs.values():
        for row, base in zip(rows, runs[KINDS[0]], strict=True):
            row["speed"] = base["wall"] / row["wall"]
            row["cpu"] = _cpu(row) / _cpu(base)
    table: dict[str, dict[str, Any]] = {}
    for kind, rows in runs.items():
        table[kind] = {p: statistics.median(r[p] for r in rows) for p in PHASES}
        for p in PAIRED:
            values = [r[p] for r in rows]
            table[kind][p] = (statistics.median(values), min(values), max(values))
    return table


def _cpu(row: dict[str, float]) -> float:
    return sum(row[p] for p in PHASES[:-1])


def main(argv: list[str] | None = None) -> None:
    """Print the table: ms of CPU per worker by phase, and the difference to a file each."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spawn_phases")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    table = measure(args.workers, args.records, args.reps)
    base = table["separate-files"]
    print(f"{args.workers} spawned workers x {args.records} records, medians of {args.reps}")
    head = " | ".join(f"{p} ms/worker" for p in PHASES[:-1])
    print(f"| variant | {head} | wall s | speed, x a file each | CPU, x a file each |")
    print("|---" * (len(PHASES) + 3) + "|")
    for kind, row in table.items():
        cells = [
            f"{row[p]:.2f}" if row is base else f"{row[p]:.2f} ({row[p] - base[p]:+.2f})"
            for p in PHASES[:-1]
        ]
        paired = " | ".join("{:.3f} ({:.3f}-{:.3f})".format(*row[p]) for p in PAIRED)
        print(f"| {kind} | " + " | ".join(cells) + f" | {row['wall']:.3f} | {paired} |")


if __name__ == "__main__":
    main()
