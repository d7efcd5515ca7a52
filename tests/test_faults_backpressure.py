"""Fault injection: a slow listener (slow disk) under a logging storm.

The block policy must lose nothing and never deadlock; the drop policy must account for every
record (delivered + reported dropped == logged); keep_level must keep every record at or above
it; and no policy may let memory grow with the backlog.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import mplog
from tests import _faults
from tests._helpers import join_process, read_lines

DELAY = 0.001  # seconds per record in the listener's handler: a slow disk


def _slow_listener(path: Path, mode: str, **kwargs: Any) -> mplog.Listener:
    return mplog.setup_listener(
        handlers=functools.partial(_faults.slow_file_handlers, str(path), DELAY),
        mode=mode,
        buffer_bytes=4096,
        **kwargs,
    )


def _run(ctx: Any, target: Any, args_list: list[tuple[Any, ...]]) -> list[int]:
    processes = [mplog.Process(target=target, args=args, context=ctx) for args in args_list]
    for process in processes:
        process.start()
    try:
        for process in processes:
            join_process(process, 60)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    return [p.pid for p in processes]  # type: ignore[misc]


def test_block_policy_loses_nothing(ctx: Any, mode: str, tmp_path: Path) -> None:
    """on_full="block" with a 1 ms-per-record handler and 4 KiB stream buffers: the workers
    wait for the listener (their calls take longer than the handler needs for their records)
    and every record arrives, once, in order; nothing is dropped; nothing deadlocks."""
    path = tmp_path / "slow.log"
    n = 150
    listener = _slow_listener(path, mode, level="INFO")
    try:
        started = time.monotonic()
        pids = _run(ctx, _faults.storm, [(f"b{k}", n, 500) for k in range(3)])
        took = time.monotonic() - started
        stats = listener.stop()
    finally:
        listener.stop()
    by_tag = _faults.seq_by_tag(read_lines(path))
    for k in range(3):
        _faults.assert_complete(by_tag, f"b{k}", n)
    assert stats["dropped"] == 0
    assert stats["received"] == stats["written"] == 3 * n
    assert {pid: stats["processes"][pid]["received"] for pid in pids} == dict.fromkeys(pids, n)
    # The workers were held back: 3 x 150 records at 1 ms cannot be written faster.
    assert took >= 3 * n * DELAY * 0.5


def _check_accounting(
    lines: list[dict[str, str]], stats: dict[str, Any], logged: dict[int, Counter[str]]
) -> dict[int, Counter[str]]:
    """Delivered + summarised drops == logged, per pid and level; stats agree with summaries."""
    summaries = _faults.drop_summaries(lines)
    delivered: dict[int, Counter[str]] = {pid: Counter() for pid in logged}
    for fields in lines:
        if fields["name"] != "mplog":
            delivered[int(fields["process"])][fields["levelname"]] += 1
    for pid, counts in logged.items():
        dropped = summaries.get(pid, Counter())
        assert delivered[pid] + dropped == counts, (pid, delivered[pid], dropped, counts)
        assert Counter(stats["processes"][pid]["dropped"]) == dropped
    assert stats["dropped"] == sum(sum(c.values()) for c in summaries.values())
    return summaries


def test_drop_policy_counts_what_it_drops(ctx: Any, mode: str, tmp_path: Path) -> None:
    """on_full="drop" with a slow handler: records are dropped (the test makes sure some are),
    and for every worker the records in the file plus the "dropped N DEBUG records from pid P"
    summaries equal what it logged; stats report the same drops per process and level."""
    path = tmp_path / "slow.log"
    n = 1500
    listener = _slow_listener(path, mode, level="DEBUG", on_full="drop")
    try:
        pids = _run(ctx, _faults.storm, [(f"d{k}", n, 200, 10) for k in range(2)])
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(path)
    by_tag = _faults.seq_by_tag(lines)
    for k in range(2):
        seen = [i for _, i in by_tag.get(f"d{k}", [])]
        assert seen == sorted(set(seen)), "delivered records duplicated or reordered"
    summaries = _check_accounting(lines, stats, {pid: Counter(DEBUG=n) for pid in pids})
    assert sum(c["DEBUG"] for c in summaries.values()) > 0, "nothing was dropped: no test"


def test_keep_level_keeps_warnings(ctx: Any, mode: str, tmp_path: Path) -> None:
    """on_full="drop", keep_level="WARNING": every WARNING record arrives, in order, while
    DEBUG records may be dropped (and are counted: delivered + dropped == logged)."""
    path = tmp_path / "slow.log"
    n = 250
    listener = _slow_listener(path, mode, level="DEBUG", on_full="drop", keep_level="WARNING")
    try:
        pids = _run(ctx, _faults.interleaved, [(f"k{k}", n) for k in range(2)])
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(path)
    by_tag = _faults.seq_by_tag(lines)
    for k in range(2):
        _faults.assert_complete(by_tag, f"k{k}-w", n)
        debug = [i for _, i in by_tag.get(f"k{k}-d", [])]
        assert debug == sorted(set(debug))
    logged = {pid: Counter(DEBUG=n, WARNING=n) for pid in pids}
    summaries = _check_accounting(lines, stats, logged)
    assert all(set(c) <= {"DEBUG"} for c in summaries.values()), summaries
    assert sum(c["DEBUG"] for c in summaries.values()) > 0, "nothing was dropped: no test"


def test_memory_stays_bounded_in_a_storm(mode: str, tmp_path: Path) -> None:
    """8 workers each log 20,000 records of 1 KiB (160 MB in all) into a listener that takes
    1 ms per record, with on_full="drop": the resident memory of the whole process tree grows
    by less than 60 MB. An unbounded backlog anywhere (in the workers or the listener) would
    hold most of the 160 MB. (One start method: what is measured does not depend on it.)"""
    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "slow.log"
    n, workers = 20_000, 8
    listener = _slow_listener(path, mode, level="INFO", on_full="drop")
    go, ready = ctx.Event(), ctx.Semaphore(0)
    processes = [
        mplog.Process(
            target=_faults.wait_then_storm, args=(f"m{k}", n, go, 1024, ready), context=ctx
        )
        for k in range(workers)
    ]
    peak = [0]
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.is_set():
            peak[0] = max(peak[0], _faults.tree_rss(os.getpid()))
            stop_sampling.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        for process in processes:
            process.start()
        for _ in processes:
            assert ready.acquire(timeout=30), "a worker did not start"
        time.sleep(0.1)  # let them reach go.wait()
        baseline = _faults.tree_rss(os.getpid())
        sampler.start()
        go.set()
        for process in processes:
            join_process(process, 60)
            assert process.exitcode == 0
        stop_sampling.set()
        sampler.join(10)
        stats = listener.stop()
    finally:
        stop_sampling.set()
        listener.stop()
        for process in processes:
            if process.is_alive():
                process.kill()
    growth = peak[0] - baseline
    print(f"tree RSS {baseline / 1e6:.1f} MB, peak {peak[0] / 1e6:.1f} MB: +{growth / 1e6:.1f} MB")
    assert stats["dropped"] > 0, "the listener kept up: no storm"
    assert growth < 60e6, f"the process tree grew by {growth / 1e6:.0f} MB during the storm"
