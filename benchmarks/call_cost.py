"""CPU of one logging call in the process that logs: mplog's JSON lines (``json=True``) or
text lines, against a plain ``FileHandler`` with the same formatter, side by side.

The whole call is timed (``logger.info`` with the suite's message and arguments), with
``time.thread_time``: the calling thread's CPU only, so the listener (a process of its own)
is not counted. Rounds of the two kinds alternate, so that a slow spell of a shared machine
hits both; the medians over the rounds are printed, and their ratio. The baseline's
records get the same fields as mplog's (a filter sets the pool fields, as in the suite's
``separate-files-json``). To compare with another version of mplog, run it from that
checkout's directory (with ``benchmarks`` there): ``python -m`` puts the current directory
first on ``sys.path``, ahead of an editable install::

    python -m benchmarks.call_cost [--calls 10000] [--rounds 9] [--format json|text]
    cd /path/to/old/checkout && python -m benchmarks.call_cost
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time

import mplog
from benchmarks.variants.destinations import _pool_fields
from benchmarks.workload import FORMAT, MESSAGE, payload


def _loop(log: logging.Logger, calls: int) -> float:
    """µs of this thread's CPU per call, over ``calls`` calls."""
    info, text = log.info, payload(1)
    start = time.thread_time()
    for step in range(calls):
        info(MESSAGE, 1, step, step / 8, text)
    return (time.thread_time() - start) / calls * 1e6


def _own_file(path: str, json: bool) -> logging.Logger:
    """A logger of its own with a plain FileHandler (not propagating to mplog's)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(mplog.JsonFormatter() if json else logging.Formatter(FORMAT))
    handler.addFilter(_pool_fields)
    log = logging.getLogger("bench.own")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def measure(json: bool, calls: int, rounds: int) -> tuple[float, float, bool]:
    """(mplog µs/call, FileHandler µs/call), medians over ``rounds``, and whether mplog's
    file holds every call's record."""
    with tempfile.TemporaryDirectory(prefix="mplog-cost-") as tmp:
        own = _own_file(os.path.join(tmp, "own.log"), json)
        options = {"json": True} if json else {"fmt": FORMAT}
        path = os.path.join(tmp, "bench.log")
        listener = mplog.setup_listener(path, level="INFO", mode="process", **options)
        with listener:
            ours = logging.getLogger("bench.worker")
            costs: dict[str, list[float]] = {"mplog": [], "file": []}
            for _ in range(rounds):
                costs["file"].append(_loop(own, calls))
                costs["mplog"].append(_loop(ours, calls))
                time.sleep(0.05)  # let the listener drain between rounds
            for handler in logging.getLogger().handlers:  # goodbye before the listener stops
                handler.close()
        for handler in list(own.handlers):
            own.removeHandler(handler)
            handler.close()
        with open(path, encoding="utf-8") as file:
            found = sum("bench.worker" in line for line in file)
    medians = statistics.median(costs["mplog"]), statistics.median(costs["file"])
    return (*medians, found == rounds * calls)


def main(argv: list[str] | None = None) -> None:
    """Print mplog's and the FileHandler's CPU per call, and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.call_cost")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--format", choices=("json", "text"), default="json")
    args = parser.parse_args(argv)
    ours, own, complete = measure(args.format == "json", args.calls, args.rounds)
    print(
        f"{args.format}: mplog {ours:.2f} µs/call, FileHandler {own:.2f} µs/call, "
        f"ratio {ours / own:.2f}x (thread CPU, median of {args.rounds} rounds of "
        f"{args.calls:,} calls; {mplog.__file__})"
        + ("" if complete else "; mplog's file MISSED records")
    )


if __name__ == "__main__":
    main()
