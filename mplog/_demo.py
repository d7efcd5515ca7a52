"""``python -m mplog demo``: show on this machine that no record of a process pool is lost.

Its one job: run a real :class:`mplog.ProcessPoolExecutor` whose tasks (and main) log numbered
records, then read the log file back and check that every record arrived exactly once, intact
and in its process's order, and print a summary.

Its timings say what they measure. Listener start to stop is mostly the pool starting its
workers (under spawn, a new interpreter each) and passing tasks to them, not logging; the
records/s figure covers only the time the tasks logged (their first record to their last);
and the cost of one logging call is measured side by side with a plain ``FileHandler``
(``mplog._callcost``).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, cast

import mplog
from mplog import _callcost
from mplog._checking import RecordCheck, Verdict
from mplog._listener.supervisor import Mode

#: The level of a task's n-th record is LEVELS[n % len(LEVELS)].
LEVELS = (logging.INFO, logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
MESSAGE = "demo record pid=%d task=%s rec=%d seq=%d crc=%08x"
_LINE = re.compile(
    r"\[(?P<process>\d+)\] demo\.(?:worker|main) (?P<level>[A-Z]+) demo record "
    r"pid=(?P<pid>\d+) task=(?P<task>\w+) rec=(?P<rec>\d+) seq=(?P<seq>\d+) "
    r"crc=(?P<crc>[0-9a-f]{8})$"
)

#: A record's identity: the pid that logged it and its sequence number in that process.
Key = tuple[int, int]
#: What a record says besides its key: the task that logged it and its index in the task.
Content = tuple[str, int]


@dataclass(frozen=True)
class Options:
    """The demo's parameters, as given on the command line."""

    workers: int = 4
    tasks: int = 200
    records_per_task: int = 5
    start_method: str = "spawn"
    mode: Mode = "thread"
    out: str | None = None


@dataclass
class Report:
    """What reading the log file back found (per pid: ``verdict.per_stream``), and the
    lines that are not demo records (the listener's own reports, if any)."""

    verdict: Verdict
    other_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every record arrived exactly once, intact and in order, and nothing else."""
        return self.verdict.ok


# -- logging side: runs in main and in every worker ------------------------------------------

_counter = {"pid": 0, "next": 0}


def _next_seq() -> int:
    """This process's next record number (starts again at 0 in a forked child)."""
    if _counter["pid"] != os.getpid():
        _counter.update(pid=os.getpid(), next=0)
    seq = _counter["next"]
    _counter["next"] = seq + 1
    return seq


def checksum(pid: int, task: str, rec: int, seq: int) -> int:
    """The CRC a record carries, so a damaged line cannot pass for an intact one."""
    return zlib.crc32(f"{pid}:{task}:{rec}:{seq}".encode())


def log_records(logger_name: str, task: str, count: int) -> tuple[int, list[int]]:
    """Log ``count`` numbered records; return this pid and the sequence numbers used."""
    logger = logging.getLogger(logger_name)
    pid = os.getpid()
    seqs = []
    for rec in range(count):
        seq = _next_seq()
        crc = checksum(pid, task, rec, seq)
        logger.log(LEVELS[rec % len(LEVELS)], MESSAGE, pid, task, rec, seq, crc)
        seqs.append(seq)
    return pid, seqs


def run_task(task_id: int, count: int) -> tuple[int, list[int], float, float]:
    """One pool task: log ``count`` records as task ``task_id``; also return when it began
    and finished logging (``time.time()``, comparable across processes)."""
    began = time.time()
    pid, seqs = log_records("demo.worker", str(task_id), count)
    return pid, seqs, began, time.time()


# -- main side -----------------------------------------------------------------------------


def _expect(expected: dict[Key, Content], task: str, logged: tuple[int, list[int]]) -> None:
    pid, seqs = logged
    for rec, seq in enumerate(seqs):
        expected[(pid, seq)] = (task, rec)


def log_everything(options: Options) -> tuple[dict[Key, Content], float]:
    """Main logs, a pool runs every task, main logs again; return every record expected and
    the seconds from the tasks' first record to their last."""
    expected: dict[Key, Content] = {}
    count = options.records_per_task
    _expect(expected, "main", log_records("demo.main", "main", count))
    context = multiprocessing.get_context(options.start_method)
    began, ended = float("inf"), 0.0
    with mplog.ProcessPoolExecutor(options.workers, mp_context=context) as pool:
        results = pool.map(run_task, range(options.tasks), repeat(count))
        for task_id, (pid, seqs, task_began, task_ended) in enumerate(results):
            _expect(expected, str(task_id), (pid, seqs))
            began, ended = min(began, task_began), max(ended, task_ended)
    _expect(expected, "main", log_records("demo.main", "main", count))
    return expected, max(ended - began, 0.0)


def output_path(out: str | None) -> str:
    """``out`` (which must not exist yet), or a new file in a new temporary directory."""
    if out is None:
        return os.path.join(tempfile.mkdtemp(prefix="mplog-demo-"), "demo.log")
    path = os.path.abspath(out)
    if os.path.exists(path):
        raise SystemExit(f"mplog demo: {path} already exists; give a new file with --out")
    return path


# -- verification ----------------------------------------------------------------------------


def _parse(line: str) -> tuple[Key, Content] | None:
    """The key and content of an intact record line; None if it is damaged."""
    match = _LINE.search(line)
    if match is None:
        return None
    pid, seq, rec = int(match["pid"]), int(match["seq"]), int(match["rec"])
    task = match["task"]
    intact = (
        int(match["process"]) == pid
        and int(match["crc"], 16) == checksum(pid, task, rec, seq)
        and match["level"] == logging.getLevelName(LEVELS[rec % len(LEVELS)])
    )
    return ((pid, seq), (task, rec)) if intact else None


def verify(lines: Iterable[str], expected: dict[Key, Content]) -> Report:
    """Compare the log file's lines with the records that were logged: each process's
    records in the order of their sequence numbers."""
    check = RecordCheck(expected.items())
    other: list[str] = []
    for raw in lines:
        line = raw.rstrip("\n")
        if "demo record" not in line:
            other.append(line)
            continue
        parsed = _parse(line)
        if parsed is None:
            check.corrupt()
        else:
            (pid, seq), _ = parsed
            check.record(parsed, pid, seq)
    return Report(check.verdict(), other)


def read_lines(path: str) -> list[str]:
    """The log file's lines (a damaged byte shows up as a replacement character)."""
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.readlines()


# -- summary ---------------------------------------------------------------------------------


def _levels_text(levels: dict[str, int]) -> str:
    return " ".join(f"{name}={n}" for name, n in sorted(levels.items()))


def print_processes(report: Report, stats: dict[str, Any]) -> None:
    """One line per process that logged: name, pid, records found, levels the listener saw."""
    processes: dict[Any, dict[str, Any]] = stats.get("processes", {})
    print(f"  {'process':<22} {'pid':>8} {'records':>8}  levels (as the listener counted)")
    for pid, found in sorted(report.verdict.per_stream.items()):
        info = processes.get(pid, {})
        name = str(info.get("name", "?"))
        levels = _levels_text(info.get("levels", {}))
        print(f"  {name:<22} {pid:>8} {found:>8}  {levels}")


@dataclass(frozen=True)
class Timing:
    """What the demo's clocks say: listener start to stop, the tasks' logging window, and
    the cost of one logging call (None until measured)."""

    elapsed: float
    logging_window: float
    call_cost: _callcost.CallCost | None = None


def print_timing(options: Options, timing: Timing) -> None:
    """Three figures, each saying what it measures."""
    records = options.tasks * options.records_per_task
    print(
        f"listener start to stop: {timing.elapsed:.2f} s, mostly the pool starting its "
        f"{options.workers} workers ({options.start_method}) and passing them "
        f"{options.tasks} tasks, not logging"
    )
    if timing.logging_window > 0:
        rate = records / timing.logging_window
        print(
            f"while the tasks logged: {records:,} records in {timing.logging_window:.3f} s "
            f"(first to last record of the tasks, task dispatch included), {rate:,.0f} records/s"
        )
    if timing.call_cost is not None:
        print(timing.call_cost.text())


def print_summary(report: Report, stats: dict[str, Any], timing: Timing, options: Options) -> None:
    """The verdict: expected vs found, lost, duplicates, damage, order; the timings."""
    verdict = report.verdict
    workers = len([pid for pid in verdict.per_stream if pid != os.getpid()])
    print(f"records per process ({workers} worker processes + main):")
    print_processes(report, stats)
    print(
        f"expected {verdict.expected}, found {verdict.found}, lost {verdict.lost}, "
        f"duplicated {verdict.duplicated}, corrupt {verdict.corrupt}, "
        f"unexpected {verdict.unexpected}, reordered {verdict.reordered}"
    )
    print(f"listener received {stats.get('received', '?')} records")
    for line in report.other_lines[:5]:
        print(f"other line in the file: {line}")
    print_timing(options, timing)
    ok = "OK: every record arrived exactly once, intact and in order"
    failed = f"FAILED: the log file does not match what was logged ({verdict.problems()})"
    print(ok if report.ok else failed)


def run(options: Options) -> int:
    """Run the demo; return the exit status (0: nothing lost or damaged, 1 otherwise)."""
    path = output_path(options.out)
    total = options.records_per_task * (options.tasks + 2)
    print(
        f"mplog demo: {options.workers} workers ({options.start_method}), listener in a "
        f"{options.mode}, {options.tasks} tasks x {options.records_per_task} records "
        f"+ main's ({total} records)"
    )
    print(f"log file: {path}")
    started = time.perf_counter()
    listener = mplog.setup_listener(path, level="DEBUG", mode=options.mode)
    try:
        expected, window = log_everything(options)
    finally:
        stats = listener.stop()
    elapsed = time.perf_counter() - started
    report = verify(read_lines(path), expected)
    with tempfile.TemporaryDirectory(prefix="mplog-demo-cost-") as scratch:
        cost = _callcost.measure(scratch, options.mode)
    print_summary(report, stats, Timing(elapsed, window, cost), options)
    return 0 if report.ok else 1


# -- command line ----------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    defaults = Options()
    parser.add_argument(
        "--workers", type=_positive, default=defaults.workers, help="pool size (default: 4)"
    )
    parser.add_argument(
        "--tasks", type=_positive, default=defaults.tasks, help="tasks to run (default: 200)"
    )
    parser.add_argument(
        "--records-per-task",
        type=_positive,
        default=defaults.records_per_task,
        help="records each task logs; main logs as many before and after (default: 5)",
    )
    _add_process_arguments(parser, defaults)


def _add_process_arguments(parser: argparse.ArgumentParser, defaults: Options) -> None:
    parser.add_argument(
        "--start-method",
        choices=multiprocessing.get_all_start_methods(),
        default=defaults.start_method,
        help="how the pool starts its workers (default: %(default)s)",
    )
    parser.add_argument(
        "--mode",
        choices=("thread", "process"),
        default=defaults.mode,
        help="run the listener as a thread of main or as its own process (default: %(default)s)",
    )
    parser.add_argument(
        "--out", metavar="PATH", help="the log file to create (default: in a new temp directory)"
    )


def main(args: argparse.Namespace) -> int:
    """Entry point for ``python -m mplog demo``."""
    mode = cast(Mode, args.mode)
    options = Options(
        args.workers, args.tasks, args.records_per_task, args.start_method, mode, args.out
    )
    status = run(options)
    sys.stdout.flush()
    return status
