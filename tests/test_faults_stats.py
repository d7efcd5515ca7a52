"""Statistics under load: live stats() and stop() agree with what every process logged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mplog
from tests import _faults
from tests._helpers import join_process, read_lines, wait_for

COUNTS = [
    {"DEBUG": 120, "INFO": 60, "WARNING": 7},
    {"INFO": 33, "ERROR": 11, "CRITICAL": 2},
]


def test_stats_match_what_was_logged(ctx: Any, mode: str, log_path: Path) -> None:
    """Per process (by pid) and per level, live stats() and the stats stop() returns count
    exactly what each worker and main logged; a worker still running shows "connected", the
    finished ones "closed"; totals add up; the file holds the same counts."""
    listener = mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="DEBUG")
    release = ctx.Event()
    running = None
    try:
        finished = [
            mplog.Process(target=_faults.levels_mix, args=(c,), context=ctx) for c in COUNTS
        ]
        for process in finished:
            process.start()
        done = ctx.Event()
        running_counts = {"INFO": 5, "WARNING": 3}
        running = mplog.Process(
            target=_faults.levels_mix_then_wait,
            args=(running_counts, done, release),
            context=ctx,
        )
        running.start()
        main_counts = {"INFO": 10, "ERROR": 1}
        _faults.levels_mix(main_counts)
        for process in finished:
            join_process(process, 60)
        assert done.wait(60)
        expected = {p.pid: c for p, c in zip(finished, COUNTS, strict=True)}
        expected[running.pid] = running_counts
        expected[os.getpid()] = main_counts
        total = sum(sum(c.values()) for c in expected.values())

        def settled() -> bool:
            live = listener.stats()
            return live["received"] == total and all(
                live["processes"][p.pid]["state"] == "closed" for p in finished
            )

        wait_for(settled, 30, "the listener to take every record")
        live = listener.stats()
        _check(live, expected, total)
        assert live["processes"][running.pid]["state"] == "connected"
        assert live["processes"][os.getpid()]["state"] == "connected"
        assert live["workers_dead"] == 0
        release.set()
        join_process(running, 30)
        final = listener.stop()
    finally:
        release.set()
        listener.stop()
        if running is not None and running.is_alive():
            running.kill()
    _check(final, expected, total)
    assert final["processes"][running.pid]["state"] == "closed"
    assert final["workers_dead"] == 0
    assert final["backlog_bytes"] == 0
    in_file: dict[int, dict[str, int]] = {}
    for fields in read_lines(log_path):
        levels = in_file.setdefault(int(fields["process"]), {})
        levels[fields["levelname"]] = levels.get(fields["levelname"], 0) + 1
    assert in_file == expected


def _check(stats: dict[str, Any], expected: dict[int, dict[str, int]], total: int) -> None:
    assert set(stats["processes"]) == set(expected)
    for pid, counts in expected.items():
        proc = stats["processes"][pid]
        assert proc["levels"] == counts, pid
        assert proc["received"] == proc["written"] == sum(counts.values())
        assert proc["dropped"] == {}
    assert stats["received"] == stats["written"] == total
    assert stats["workers_seen"] == len(expected)
    assert stats["dropped"] == stats["handler_errors"] == stats["torn_frames"] == 0
    assert stats["rejected"] == 0
