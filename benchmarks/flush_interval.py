"""What a corked network sender's flusher thread costs, by how often it may wake.

N sender processes (``mplog.connect``, fork) log into ``mplog serve`` over TCP while the
flusher's ``FLUSH_LATEST`` (``mplog/_worker/cork.py``: how long the last records of a burst
may wait) takes each value in turn; the runs of the different values alternate, so a slow
spell of the machine hits all of them. Each run reports its wall time and the CPU time the
whole machine spent on it (``/proc/stat``, every process: the senders' logging threads and
the flusher threads that take the interpreter's lock from them, the connection threads, the
listener), which depends far less on what else the machine does than the wall time::

    python -m benchmarks.flush_interval [--senders 8] [--records 20000] [--reps 5]
        [--latest 0.004,0.02,0.1,60]

A value longer than the run (60 s) is "no flusher": only the logging calls uncork (every
``FLUSH_EVERY``), and closing the handler pushes out the rest. Linux only (``TCP_CORK``,
``/proc/stat``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.variants import network
from benchmarks.workload import FORMAT, MESSAGE, payload
from mplog._worker import cork

_barrier: Any = None


def machine_cpu_ticks() -> int:
    """Ticks the machine's cores spent on anything but idling, so far (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        user, nice, system, _, _, irq, softirq = map(int, stat.readline().split()[1:8])
    return user + nice + system + irq + softirq


def _init(port: int, latest: float, barrier: Any) -> None:
    global _barrier
    _barrier = barrier
    cork.FLUSH_LATEST = latest  # before the connection: its flusher reads it
    network.connect_worker(port, None)


def _log(task: int, records: int) -> None:
    _barrier.wait(60)
    log, text = logging.getLogger("bench"), payload(task)
    for step in range(records):
        log.info(MESSAGE, task, step, step / 8, text)


def run(latest: float, senders: int, records: int) -> tuple[float, int]:
    """One run into a fresh ``mplog serve``: its wall seconds and the machine's CPU ticks."""
    log_path = Path(tempfile.mkdtemp(prefix="mplog-flush-")) / "bench.log"
    command = [sys.executable, "-m", "mplog", "serve", "--listen", "127.0.0.1:0"]
    command += ["--file", str(log_path), "--format", FORMAT]
    server = network.Started(command, {**os.environ, "MPLOG_KEY": network.KEY})
    ctx = multiprocessing.get_context("fork")
    try:
        ticks, began = machine_cpu_ticks(), time.perf_counter()
        initargs = (server.port, latest, ctx.Barrier(senders))
        with concurrent.futures.ProcessPoolExecutor(
            senders, mp_context=ctx, initializer=_init, initargs=initargs
        ) as pool:
            for done in [pool.submit(_log, task, records) for task in range(senders)]:
                done.result()
        seconds, ticks = time.perf_counter() - began, machine_cpu_ticks() - ticks
    finally:
        network._stop(server.program)
    with open(log_path, "rb") as written:
        lines = sum(1 for _ in written)
    if lines != senders * records:
        raise RuntimeError(f"{senders * records - lines} records lost (flush every {latest}s)")
    return seconds, ticks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flush_interval")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--latest", default="0.004,0.02,0.1,60", help="FLUSH_LATEST values (s)")
    args = parser.parse_args(argv)
    values = [float(value) for value in args.latest.split(",")]
    runs: dict[float, list[tuple[float, int]]] = {value: [] for value in values}
    for _ in range(args.reps):
        for value in values:
            runs[value].append(run(value, args.senders, args.records))
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    print(f"{args.senders} senders x {args.records:,} records into mplog serve, medians of")
    print(f"{args.reps} runs (the machine's CPU in /proc/stat ticks, {ticks_per_s} per second)")
    for value, samples in runs.items():
        wall = statistics.median(seconds for seconds, _ in samples)
        ticks = statistics.median(ticks for _, ticks in samples)
        print(f"FLUSH_LATEST {value:g} s: {wall * 1000:.0f} ms, {ticks:.0f} ticks of CPU")


if __name__ == "__main__":
    main()
