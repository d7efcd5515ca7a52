"""Fault injection: a worker killed (SIGKILL, os._exit, segfault) while others keep logging."""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _faults
from tests._helpers import FMT, join_process, read_lines, wait_for

SURVIVOR_RECORDS = 1500
UNKNOWN = "exit status unknown: already reaped by its parent"


def _reap_late(process: Any) -> None:
    """Wait for ``process`` to exit, leave it unreaped (a zombie) briefly, then join it.

    The exit status belongs to the parent: once it has reaped the child nobody can tell how
    it ended. Joining a little late gives the listener the moment it needs to look.
    """
    wait_for(lambda: not _faults.alive([process.pid]), 30, f"{process.pid} to exit")
    time.sleep(0.5)
    join_process(process, 10)


def _start(ctx: Any, target: Any, *args: Any) -> Any:
    process = mplog.Process(target=target, args=args, context=ctx)
    process.start()
    return process


def _stop_promptly(listener: mplog.Listener) -> dict[str, Any]:
    started = time.monotonic()
    stats = listener.stop()
    assert time.monotonic() - started < 5.0, "stop() did not return promptly"
    return stats


def _clean_up(listener: mplog.Listener, processes: list[Any]) -> None:
    listener.stop()
    for process in processes:
        if process.is_alive():
            process.kill()


def test_sigkill_in_a_storm(ctx: Any, mode: str, log_path: Path) -> None:
    """A worker SIGKILLed mid-storm costs nothing but its own unsent records.

    Survivors' records all arrive in order; stop() returns promptly; the listener writes
    exactly one WARNING naming the victim and how many of its records it received, and that
    number equals the victim's records in the file (a gap-free prefix); stats count one death.
    """
    listener = mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO")
    processes = []
    try:
        ready = ctx.Event()
        victim = _start(ctx, _faults.storm_forever, "victim", ready)
        processes.append(victim)
        assert ready.wait(30), "the victim never logged"
        survivors = [_start(ctx, _faults.storm, f"s{k}", SURVIVOR_RECORDS, 200) for k in range(2)]
        processes += survivors
        time.sleep(0.1)  # the storm is on: survivors and victim all write
        os.kill(victim.pid, signal.SIGKILL)
        _reap_late(victim)
        assert victim.exitcode == -signal.SIGKILL
        for process in survivors:
            join_process(process, 60)
            assert process.exitcode == 0
        stats = _stop_promptly(listener)
    finally:
        _clean_up(listener, processes)

    lines = read_lines(log_path)
    by_tag = _faults.seq_by_tag(lines)
    for k in range(2):
        _faults.assert_complete(by_tag, f"s{k}", SURVIVOR_RECORDS)
    victim_count = _faults.assert_prefix(by_tag, "victim")
    assert victim_count >= 1
    reports = _faults.deaths(lines)
    assert list(reports) == [victim.pid], f"death reports: {reports}"
    [(levelname, how, received)] = reports[victim.pid]
    assert levelname == "WARNING"
    assert received == victim_count, "the report's count differs from the records in the file"
    if ctx.get_start_method() == "forkserver":
        # The victim's parent is the fork server, which reaps it at once: a race.
        assert how in ("killed by SIGKILL", UNKNOWN)
    else:
        assert how == "killed by SIGKILL"
    assert stats["workers_dead"] == 1
    victim_stats = stats["processes"][victim.pid]
    assert victim_stats["state"] == f"died: {how}"
    assert victim_stats["received"] == victim_count
    for process in survivors:
        assert stats["processes"][process.pid]["state"] == "closed"
        assert stats["processes"][process.pid]["received"] == SURVIVOR_RECORDS
    assert stats["torn_frames"] <= 1


def test_sigkill_while_blocked_mid_send(ctx: Any, mode: str, tmp_path: Path) -> None:
    """A worker killed while blocked inside a send (tiny buffer, slow disk) tears only its
    own stream: at most one torn frame, reported; the survivors' records all arrive."""
    path = tmp_path / "slow.log"
    listener = mplog.setup_listener(
        handlers=functools.partial(_faults.slow_file_handlers, str(path), 0.001),
        mode=mode,
        level="INFO",
        buffer_bytes=4096,
    )
    processes = []
    n = 150
    try:
        go = ctx.Event()
        survivors = [_start(ctx, _faults.wait_then_storm, f"s{k}", n, go, 100) for k in range(2)]
        processes += survivors
        ready = ctx.Event()
        victim = _start(ctx, _faults.huge_then_wait, 4 << 20, ready)
        processes.append(victim)
        assert ready.wait(30)
        go.set()
        time.sleep(0.3)  # the victim is inside sendall() of a 4 MiB record by now
        assert victim.is_alive()
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        for process in survivors:
            join_process(process, 60)
        stats = _stop_promptly(listener)
    finally:
        _clean_up(listener, processes)

    lines = read_lines(path)
    by_tag = _faults.seq_by_tag(lines)
    for k in range(2):
        _faults.assert_complete(by_tag, f"s{k}", n)
    huge = [f for f in lines if f["message"].startswith("huge ")]
    torn = [f for f in lines if f["name"] == "mplog" and _faults.TORN.match(f["message"])]
    assert stats["torn_frames"] == len(torn) <= 1
    if stats["torn_frames"] == 1:
        assert not huge, "a torn record was written"
        assert int(_faults.TORN.match(torn[0]["message"])["pid"]) == victim.pid  # type: ignore[index]
    else:
        assert len(huge) == 1 and len(huge[0]["message"]) == len("huge ") + (4 << 20)
    assert stats["workers_dead"] == 1
    assert list(_faults.deaths(lines)) == [victim.pid]
    for process in survivors:
        assert stats["processes"][process.pid]["state"] == "closed"


@pytest.mark.parametrize(
    ("how", "expected"),
    [("exit0", "exit code 0"), ("exit3", "exit code 3"), ("segfault", "killed by SIGSEGV")],
)
def test_abrupt_exit_keeps_what_was_logged(
    ctx: Any, mode: str, log_path: Path, how: str, expected: str
) -> None:
    """A worker that logs and then leaves without closing its stream (os._exit(0), os._exit(3),
    a segfault) loses none of the records whose logging call returned; the listener reports
    its end (with the exit status when it can see it) and the count it received."""
    listener = mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO")
    try:
        process = _start(ctx, _faults.log_then_die, "abrupt", 300, how)
        _reap_late(process)
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(log_path)
    _faults.assert_complete(_faults.seq_by_tag(lines), "abrupt", 300)
    reports = _faults.deaths(lines)
    assert list(reports) == [process.pid]
    [(levelname, reported_how, received)] = reports[process.pid]
    assert (levelname, received) == ("WARNING", 300)
    if ctx.get_start_method() == "forkserver":
        assert reported_how in (expected, UNKNOWN)
    else:
        assert reported_how == expected
    assert stats["workers_dead"] == 1
    assert stats["processes"][process.pid]["state"] == f"died: {reported_how}"
