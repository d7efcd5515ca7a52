"""How a process that vanished without saying goodbye ended: exit code or signal.

The listener learns of a death from the end of the process's stream. The exit status belongs
to the process's parent, so it is peeked at without reaping: ``waitid(WNOWAIT)`` when the
listener runs in that parent (thread mode), else the zombie's ``/proc/<pid>/stat`` (Linux),
before the parent reaps it. When neither is possible the status is reported as unknown.
"""

from __future__ import annotations

import os
import signal
import time


def describe_status(wait_status: int) -> str:
    """Turn a ``waitpid``-style status into words: "killed by SIGKILL", "exit code 3"."""
    if os.WIFSIGNALED(wait_status):
        return f"killed by {_signal_name(os.WTERMSIG(wait_status))}"
    return f"exit code {os.WEXITSTATUS(wait_status)}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _peek_child(pid: int) -> str | None:
    waitid = getattr(os, "waitid", None)
    if waitid is None:
        return None
    try:
        info = waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ChildProcessError, OSError):
        return None
    if info is None:
        return None
    if info.si_code == os.CLD_EXITED:
        return f"exit code {info.si_status}"
    return f"killed by {_signal_name(info.si_status)}"


def _peek_zombie(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is field 3 of proc(5), "state"; fields[49] is field 52, "exit_code".
    if fields[0] != b"Z" or len(fields) < 50:
        return None
    return describe_status(int(fields[49]))


def peek_exit_status(pid: int) -> str | None:
    """How process ``pid`` ended, if it has exited and not yet been reaped; else None."""
    return _peek_child(pid) or _peek_zombie(pid)


def exit_status(pid: int, wait: float = 0.1) -> str:
    """How process ``pid`` ended, waiting up to ``wait`` seconds for it to finish exiting."""
    deadline = time.monotonic() + wait
    while True:
        status = peek_exit_status(pid)
        if status is not None:
            return status
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    import psutil  # only here: the listener loads this module; workers never do

    if psutil.pid_exists(pid):
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return "still running (its log stream ended)"
        except psutil.Error:
            pass
    return "exit status unknown: already reaped by its parent"
