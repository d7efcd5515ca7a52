"""Fault injection: exceptions, Ctrl+C and SIGTERM in main; pools torn down mid-work.

Whatever interrupts main, every record logged before it must reach the file and no listener or
worker process may be left behind. Scenarios that end main run as scripts.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _faults
from tests._helpers import call_within, read_lines, wait_for

SCRIPT = """
import json, logging, os, signal, sys, time
import multiprocessing as mp
import mplog
from tests import _faults
from tests._helpers import FMT, wait_received

# A terminal's Ctrl+C meets Python's default handler, but a test run started in the
# background (`cmd &`, nohup in CI) hands SIGINT down ignored, and Python keeps it ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)

def sleeper(tag, n):
    _faults.storm(tag, n)
    time.sleep(60)

if __name__ == "__main__":
    method, mode, kind, log_path = sys.argv[1:5]
    ctx = mp.get_context(method)
    with mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO") as listener:
        pids = [listener._runner.pid] if mode == "process" else []
        done = mplog.Process(target=_faults.storm, args=("child", 300), context=ctx)
        done.start()
        done.join(30)
        assert done.exitcode == 0
        pids.append(done.pid)
        with mplog.Pool(2, context=ctx) as pool:
            pool.starmap(_faults.storm, [("p0", 200), ("p1", 200)], chunksize=1)
            pids += [p.pid for p in pool._pool]
        live = mplog.Process(target=sleeper, args=("live", 200), context=ctx)
        live.start()
        pids.append(live.pid)
        _faults.storm("main", 300)
        wait_received(listener, 1200)
        print("PIDS " + json.dumps(pids), flush=True)
        if kind == "exception":
            live.terminate()
            raise RuntimeError("boom inside the with block")
        print("READY", flush=True)
        time.sleep(60)
"""

EXPECTED = {"child": 300, "p0": 200, "p1": 200, "live": 200, "main": 300}


def _check_file(log_path: Path) -> None:
    by_tag = _faults.seq_by_tag(read_lines(log_path))
    assert sorted(by_tag) == sorted(EXPECTED)
    for tag, n in EXPECTED.items():
        _faults.assert_complete(by_tag, tag, n)


def _check_no_leftovers(pids: list[int]) -> None:
    wait_for(lambda: not _faults.alive(pids), 10, f"processes {pids} to end")


@pytest.mark.parametrize("kind", ["exception", "ctrl_c"])
def test_interrupted_with_block(start_method: str, mode: str, kind: str, tmp_path: Path) -> None:
    """An exception, or Ctrl+C (SIGINT to the whole process group, as a terminal sends it),
    inside ``with setup_listener():`` while a worker is still running: every record logged
    before it (main, a finished child, pool tasks, the running worker) is in the file, the
    error propagates, and no listener or worker process is left behind."""
    log_path = tmp_path / "app.log"
    proc = _faults.start_script(
        tmp_path, SCRIPT, start_method, mode, kind, str(log_path), start_new_session=True
    )
    try:
        if kind == "ctrl_c":
            assert proc.stdout is not None
            pids = None
            for line in proc.stdout:
                if line.startswith("PIDS "):
                    pids = json.loads(line[5:])
                if line.strip() == "READY":
                    break
            assert pids is not None, proc.communicate(timeout=30)
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            assert "KeyboardInterrupt" in err
            assert proc.returncode != 0
        else:
            out, err = proc.communicate(timeout=60)
            pids = _faults.json_line(out, "PIDS ")
            assert "RuntimeError: boom inside the with block" in err
            assert proc.returncode == 1
    finally:
        _faults.kill_tree(proc)
    _check_no_leftovers(pids)
    _check_file(log_path)


SIGTERM_SCRIPT = """
import json, logging, sys, time
import multiprocessing as mp
import mplog
from tests import _faults
from tests._helpers import FMT

if __name__ == "__main__":
    mode, log_path = sys.argv[1:3]
    listener = mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO")
    child = mplog.Process(target=_faults.storm, args=("child", 300),
                          context=mp.get_context("spawn"))
    child.start()
    child.join(30)
    _faults.storm("main", 2000)
    pids = [listener._runner.pid] if mode == "process" else []
    print("PIDS " + json.dumps(pids), flush=True)
    time.sleep(60)
"""


def test_sigterm_to_main_flushes(mode: str, tmp_path: Path) -> None:
    """SIGTERM to a main script that logged and now sleeps (the listener still draining or
    idle): it exits with status 128+15 through SystemExit, its records and its child's are all
    in the file, and the listener process is gone."""
    log_path = tmp_path / "app.log"
    proc = _faults.start_script(tmp_path, SIGTERM_SCRIPT, mode, str(log_path))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PIDS "), line + proc.communicate(timeout=30)[1]
        pids = json.loads(line[5:])
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        _faults.kill_tree(proc)
    assert proc.returncode == 128 + signal.SIGTERM, err
    _check_no_leftovers(pids)
    by_tag = _faults.seq_by_tag(read_lines(log_path))
    _faults.assert_complete(by_tag, "main", 2000)
    _faults.assert_complete(by_tag, "child", 300)


def test_pool_terminate_loses_nothing_logged(ctx: Any, mode: str, tmp_path: Path) -> None:
    """Pool.terminate() (SIGTERM to workers in the middle of logging): for every worker, every
    record whose logging call had returned (as its progress file says) is in the file, with
    no gap; the pool announced the terminations, so the listener records each end as
    "ended by Pool.terminate()" instead of reporting a death in the log."""
    log_path = tmp_path / "app.log"
    progress = tmp_path / "progress"
    progress.mkdir()
    listener = mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="INFO")
    try:
        pool = mplog.Pool(3, context=ctx)
        try:
            for _ in range(3):
                pool.apply_async(_faults.log_with_progress, ("p", str(progress)))
            wait_for(
                lambda: _all_at_least(_faults.read_progress(progress), 3, 300),
                30,
                "three workers to log 300 records each",
            )
        finally:
            call_within(pool.terminate, 30, "Pool.terminate")
        returned = _faults.read_progress(progress)
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(log_path)
    by_tag = _faults.seq_by_tag(lines)
    reports = _faults.deaths(lines)
    for pid, count in returned.items():
        in_file = _faults.assert_prefix(by_tag, f"p-{pid}")
        assert in_file >= count, f"worker {pid}: {count} calls returned, {in_file} in the file"
        assert stats["processes"][pid]["received"] == in_file
        assert stats["processes"][pid]["state"].startswith("ended by Pool.terminate()")
        assert pid not in reports, f"worker {pid}'s announced end was reported as a death"


def _all_at_least(progress: dict[int, int], workers: int, n: int) -> bool:
    return len(progress) == workers and min(progress.values()) >= n


def test_executor_cancel_futures_loses_nothing(ctx: Any, mode: str, tmp_path: Path) -> None:
    """executor.shutdown(cancel_futures=True) in the middle of a queue of tasks: every task
    that ran (its done marker exists, its future was not cancelled) has all its records in
    the file; cancelled tasks logged nothing; some tasks were really cancelled."""
    log_path = tmp_path / "app.log"
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    tasks, n = 30, 40
    listener = mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="INFO")
    try:
        executor = mplog.ProcessPoolExecutor(2, mp_context=ctx)
        try:
            futures = [
                executor.submit(_faults.task_with_done_marker, t, n, str(done_dir), 0.05)
                for t in range(tasks)
            ]
            futures[0].result(timeout=60)
        finally:
            call_within(lambda: executor.shutdown(wait=True, cancel_futures=True), 60)
        stats = listener.stop()
    finally:
        listener.stop()
    ran = {int(p.stem) for p in done_dir.glob("*.done")}
    assert 1 <= len(ran) < tasks, f"{len(ran)} of {tasks} tasks ran: nothing was cancelled"
    assert {t for t, f in enumerate(futures) if not f.cancelled()} == ran
    by_tag = _faults.seq_by_tag(read_lines(log_path))
    assert set(by_tag) == {f"t{t}" for t in ran}, "a cancelled task logged, or a run one did not"
    for t in ran:
        _faults.assert_complete(by_tag, f"t{t}", n)
    assert stats["received"] == len(ran) * n
    assert stats["workers_dead"] == 0
