"""Fault injection: fork() while other threads of main log and while a listener runs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

import mplog
from tests import _faults
from tests._helpers import join_process, read_lines

FORKS = 30


def _wait_child(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"forked child {pid} did not exit within {timeout}s: deadlocked")


def _child(k: int) -> None:
    # Runs in a child forked by hand: log, close the stream cleanly, leave without unwinding
    # the parent's stack (this is a copy of the test process).
    try:
        logging.getLogger("forked").warning("seq f%d 0 0", k)
        for handler in logging.getLogger().handlers:
            handler.close()
    finally:
        os._exit(0)


def _mp_child(k: int) -> None:
    logging.getLogger("forked").warning("seq f%d 0 0", k)


def test_fork_while_threads_log(mode: str, log_path: Path) -> None:
    """Forking again and again (os.fork and the fork start method) while three threads of main
    log non-stop and the listener runs (as a thread of main, or a process): no child ever
    deadlocks (each logs one record and exits within 10 s), every child's record arrives, and
    the threads' records all arrive in order."""
    listener = mplog.setup_listener(log_path, mode=mode, fmt=_faults.FMT, level="INFO")
    stop = threading.Event()
    counts: dict[str, int] = {}

    def hammer(name: str) -> None:
        log = logging.getLogger("hammer")
        i = 0
        while not stop.is_set():
            log.info("seq %s %d %d", name, i, i)
            i += 1
        counts[name] = i

    threads = [threading.Thread(target=hammer, args=(f"T{k}",)) for k in range(3)]
    ctx = multiprocessing.get_context("fork")
    children: list[int] = []
    try:
        for thread in threads:
            thread.start()
        for k in range(FORKS):
            if k % 2:
                process = mplog.Process(target=_mp_child, args=(k,), context=ctx)
                process.start()
                join_process(process, 10)
                assert process.exitcode == 0
                children.append(process.pid)  # type: ignore[arg-type]
            else:
                pid = os.fork()
                if pid == 0:
                    _child(k)
                children.append(pid)
                assert _wait_child(pid, 10) == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        stats = listener.stop()
    assert not any(t.is_alive() for t in threads)
    lines = read_lines(log_path)
    by_tag = _faults.seq_by_tag(lines)
    for k, pid in enumerate(children):
        assert by_tag.get(f"f{k}") == [(pid, 0)], f"child {k} ({pid}): its record is missing"
    for name, n in counts.items():
        assert n > 0
        _faults.assert_complete(by_tag, name, n)
    assert stats["workers_dead"] == 0, "a forked child did not close its stream"


WARN_SCRIPT = """
import logging, os, sys, warnings
import multiprocessing as mp
import mplog

def child():
    logging.getLogger("c").warning("child")

if __name__ == "__main__":
    warnings.simplefilter("always", DeprecationWarning)
    mode, log_path = sys.argv[1:3]
    with mplog.setup_listener(log_path, mode=mode, level="INFO"):
        logging.getLogger("main").info("before fork")
        p = mplog.Process(target=child, context=mp.get_context("fork"))
        p.start()
        p.join(30)
        pid = os.fork()
        if pid == 0:
            logging.getLogger("c").warning("raw child")
            os._exit(0)
        os.waitpid(pid, 0)
    print("OK", flush=True)
"""


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the fork warning exists from 3.12")
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_no_fork_warning_in_process_mode(mode: str, tmp_path: Path) -> None:
    """With mode="process", mplog starts no thread in main, so forking (the fork start method,
    or os.fork) raises no "multi-threaded ... fork" DeprecationWarning on Python 3.12+. The
    thread-mode run is the control: there the warning must appear, or the check proves
    nothing."""
    done = _faults.run_script(tmp_path, WARN_SCRIPT, mode, str(tmp_path / "app.log"))
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr
    warned = "multi-threaded" in done.stderr and "DeprecationWarning" in done.stderr
    assert warned == (mode == "thread"), done.stderr
