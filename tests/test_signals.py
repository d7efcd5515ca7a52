"""mplog._listener.signals: SIGINT and SIGTERM reach a blocked main at once; forked children
keep the default SIGTERM. Each scenario runs as a script, bounded by a timeout."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._listener import signals as _signals
from tests import _faults
from tests._helpers import read_lines

PENDING_SCRIPT = """
import _thread, signal, sys, threading, time
import mplog
from tests import _faults
from tests._helpers import FMT

signal.signal(signal.SIGINT, signal.default_int_handler)  # see test_faults_interrupts

def trip_later(signum):
    time.sleep(0.5)  # main is asleep by then
    # What a signal the kernel hands to another thread of main does: CPython notes it for
    # main's handler but interrupts nothing, so main sleeps on (without mplog: 60 s).
    _thread.interrupt_main(signum)

if __name__ == "__main__":
    mode, name, log_path = sys.argv[1:4]
    with mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO"):
        _faults.storm("main", 500)
        threading.Thread(target=trip_later, args=(getattr(signal, name),), daemon=True).start()
        time.sleep(60)
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_pending_while_main_blocks_is_handled_at_once(
    mode: str, name: str, tmp_path: Path
) -> None:
    """A SIGTERM or SIGINT noted while main is already blocked in time.sleep(60) (CPython
    interrupts nothing then) still ends main at once, through its handler: SystemExit(143)
    or KeyboardInterrupt, with every record in the file."""
    log_path = tmp_path / "app.log"
    done = _faults.run_script(tmp_path, PENDING_SCRIPT, mode, name, str(log_path), timeout=30)
    if name == "SIGTERM":
        assert done.returncode == 143, done.stderr
    else:
        assert "KeyboardInterrupt" in done.stderr, done.stderr
    _faults.assert_complete(_faults.seq_by_tag(read_lines(log_path)), "main", 500)


CYCLES_SCRIPT = """
import multiprocessing, sys
import mplog

if __name__ == "__main__":
    mode, log_path, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fork = multiprocessing.get_context("fork")
    with mplog.setup_listener(log_path, mode=mode):
        for _ in range(cycles):
            fork.Pool(2).terminate()
    print("DONE", flush=True)
"""


def test_pool_terminate_right_after_fork_never_hangs(mode: str, tmp_path: Path) -> None:
    """Hundreds of fork Pools created and terminated at once, while the listener runs: the
    SIGTERM of each terminate() often reaches a worker in the middle of its fork, where it
    once met main's SIGTERM handler and was lost (the parent then waited forever)."""
    done = _faults.run_script(
        tmp_path, CYCLES_SCRIPT, mode, str(tmp_path / "app.log"), "200", timeout=90
    )
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr


def _report_sigterm(queue: Any) -> None:
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    queue.put((signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.SIGTERM in blocked))


def test_forked_child_has_the_default_sigterm(tmp_path: Path) -> None:
    """A child forked while the listener runs starts with SIGTERM's default action and does
    not block it; main keeps its handler, unblocked."""
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    with mplog.setup_listener(tmp_path / "app.log"):
        assert signal.getsignal(signal.SIGTERM) is _signals._exit_on_sigterm
        child = fork.Process(target=_report_sigterm, args=(queue,))
        child.start()
        assert queue.get(timeout=30) == (True, False)
        child.join(30)
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(_signals.KICK) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


def test_a_wakeup_fd_in_use_is_left_alone(tmp_path: Path) -> None:
    """With main's wakeup fd already taken (an asyncio loop's signal handling), mplog keeps
    its hands off it and off SIGURG, and SIGTERM still becomes SystemExit."""
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    signal.set_wakeup_fd(writer)
    try:
        with mplog.setup_listener(tmp_path / "app.log"):
            assert signal.set_wakeup_fd(writer) == writer
            assert signal.getsignal(_signals.KICK) == signal.SIG_DFL
            assert signal.getsignal(signal.SIGTERM) is _signals._exit_on_sigterm
        assert signal.set_wakeup_fd(writer) == writer
    finally:
        signal.set_wakeup_fd(-1)
        os.close(reader)
        os.close(writer)
