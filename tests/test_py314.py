"""What Python 3.14 added, through mplog's wrappers: ProcessPoolExecutor.terminate_workers()
and kill_workers(), Executor.map(buffersize=), Process.interrupt(), and forkserver as the
default start method. Before 3.14 each test checks that the wrapper behaves as the standard
library does there (the method or argument does not exist)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _faults, _workers
from tests._helpers import call_within, join_process, read_lines, wait_for
from tests.test_context import CTX_FMT, _lines

PY314 = sys.version_info >= (3, 14)


@pytest.mark.parametrize("operation", ["terminate_workers", "kill_workers"])
def test_executor_terminate_and_kill_workers(
    ctx: Any, mode: str, operation: str, tmp_path: Path
) -> None:
    """terminate_workers() / kill_workers() while workers log: every record whose call
    returned is in the file, gap-free; the ends are announced, so stats() records them as
    deliberate and no death is reported."""
    if not PY314:
        with mplog.setup_listener(tmp_path / "app.log"):
            executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
            with pytest.raises(AttributeError):
                getattr(executor, operation)
            executor.shutdown()
        return
    log_path, progress = tmp_path / "app.log", tmp_path / "progress"
    progress.mkdir()
    listener = mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="INFO")
    try:
        executor = mplog.ProcessPoolExecutor(2, mp_context=ctx)
        for _ in range(2):
            executor.submit(_faults.log_with_progress, "p", str(progress))
        wait_for(lambda: _at_least(_faults.read_progress(progress), 2, 300), 60, "two busy workers")
        call_within(getattr(executor, operation), 30, operation)
        call_within(lambda: executor.shutdown(wait=True), 30, "shutdown")
        returned = _faults.read_progress(progress)
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(log_path)
    by_tag, reports = _faults.seq_by_tag(lines), _faults.deaths(lines)
    why = f"ended by ProcessPoolExecutor.{operation}()"
    for pid, count in returned.items():
        assert _faults.assert_prefix(by_tag, f"p-{pid}") >= count
        assert stats["processes"][pid]["state"].startswith(why)
        assert pid not in reports, f"worker {pid}'s announced end was reported as a death"
    assert stats["workers_dead"] == 0


def _at_least(progress: dict[int, int], workers: int, n: int) -> bool:
    return len(progress) == workers and min(progress.values()) >= n


def test_executor_map_buffersize_numbers_tasks(ctx: Any, tmp_path: Path) -> None:
    """map(..., buffersize=2) submits items as results are consumed: items still become
    tasks in the order they are submitted, with their context fields."""
    path = tmp_path / "tasks.log"
    with (
        mplog.setup_listener(path, level="INFO", fmt=CTX_FMT),
        mplog.ProcessPoolExecutor(2, mp_context=ctx) as executor,
    ):
        if not PY314:
            with pytest.raises(TypeError):
                executor.map(_workers.log_item, range(3), buffersize=2)
            return
        results = executor.map(_workers.log_item, range(6), buffersize=2)
        assert next(results) == 0
        executor.submit(_workers.log_item, 100).result(30)  # between the map's items
        assert list(results) == [1, 2, 3, 4, 5]
    records = {int(f[5].split()[1]): f for f in _lines(path) if f[5].startswith("item")}
    assert sorted(records) == [0, 1, 2, 3, 4, 5, 100]
    task_ids = {item: int(f[2]) for item, f in records.items()}
    assert sorted(task_ids.values()) == list(range(7)), task_ids
    mapped = [task_ids[item] for item in range(6)]
    assert mapped == sorted(mapped), f"map items out of submission order: {task_ids}"
    for item, fields in records.items():
        assert (fields[3], fields[4]) == ("log_item", f"r{item}")


def test_no_explicit_context_works_like_an_explicit_one(mode: str, tmp_path: Path) -> None:
    """Pool, ProcessPoolExecutor and Process without a context use the default start method
    (forkserver on Linux from 3.14): records, task numbers and worker indexes as with an
    explicit context, and mplog never sets the start method."""
    path = tmp_path / "tasks.log"
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT, mode=mode):
        with mplog.Pool(2) as pool:
            pool.map(_workers.log_item, range(3))
        with mplog.ProcessPoolExecutor(2) as executor:
            list(executor.map(_workers.log_item, range(3, 6)))
        process = mplog.Process(target=_workers.log_item, args=(6,))
        process.start()
        join_process(process, 60)
    if PY314 and sys.platform == "linux":
        assert multiprocessing.get_start_method() == "forkserver"
    records = {int(f[5].split()[1]): f for f in _lines(path) if f[5].startswith("item")}
    assert sorted(records) == list(range(7))
    assert [int(records[i][2]) for i in range(6)] == [0, 1, 2, 0, 1, 2]
    assert records[6][1:4] == ["None", "None", "None"]  # a bare Process runs no pool task
    assert {records[i][1] for i in range(6)} <= {"0", "1"}
    assert all(int(f[0]) != os.getpid() for f in records.values())


def _log_then_wait(n: int, ready: Any) -> None:
    # A suite run in the background (`cmd &`, nohup, CI) hands SIGINT down ignored; a
    # terminal session has Python's default handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log = logging.getLogger("child")
    for i in range(n):
        log.info("seq child %d %d", i, i)
    ready.set()
    # Short sleeps: a SIGINT that comes just before a long one would wait for it to end
    # (CPython runs Python handlers between bytecodes; see mplog._listener.signals).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)


def test_process_interrupt_keeps_every_record(ctx: Any, mode: str, tmp_path: Path) -> None:
    """Process.interrupt() (3.14; SIGINT before) on a child that logged: KeyboardInterrupt
    ends it, and every record it logged is in the file; it ended cleanly, not as a death."""
    log_path = tmp_path / "app.log"
    ready = ctx.Event()
    with mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="INFO") as listener:
        process = mplog.Process(target=_log_then_wait, args=(500, ready), context=ctx)
        process.start()
        assert ready.wait(60)
        if PY314:
            process.interrupt()
        else:
            os.kill(process.pid, signal.SIGINT)
        join_process(process, 30)
        pid = process.pid
        state = wait_for(lambda: _faults.ended_state(listener, pid), 30, "its end")
    assert process.exitcode == 1
    _faults.assert_complete(_faults.seq_by_tag(read_lines(log_path)), "child", 500)
    assert state == "closed"
