"""Fault injection: handlers slower than the producers, and what stop() owes them.

``stop()`` must return only once every record of every process that has ended (and of main)
is handled, however long the handlers take; the timeout bounds only the wait for processes
still logging, and what it cuts off is counted exactly and said. The bursts are 10x what the
handlers can take in the listener's linger time (0.2 s), the case that used to pass for
silence and end the drain early.
"""

from __future__ import annotations

import functools
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _faults
from tests._helpers import FMT, join_process, read_lines

LINGER = 0.2


def _burst(delay: float) -> int:
    return int(10 * LINGER / delay)


def _run_and_stop(
    listener: mplog.Listener, ctx: Any, children: int, per_child: int, in_main: int
) -> dict[str, Any]:
    processes = [
        mplog.Process(target=_faults.storm, args=(f"c{k}", per_child), context=ctx)
        for k in range(children)
    ]
    for process in processes:
        process.start()
    _faults.storm("main", in_main)
    for process in processes:
        join_process(process, 120)
        assert process.exitcode == 0
    return listener.stop()


def _assert_all_there(
    lines: list[dict[str, str]], stats: dict[str, Any], tags: dict[str, int]
) -> None:
    by_tag = _faults.seq_by_tag(lines)
    for tag, n in tags.items():
        _faults.assert_complete(by_tag, tag, n)
    assert stats["torn_frames"] == 0, _faults.mplog_records(lines)
    assert stats["unread_records"] == stats["unread_bytes"] == 0
    assert {p["state"] for p in stats["processes"].values()} == {"closed"}
    assert not _faults.mplog_records(lines), "the listener reported a problem"


def test_stop_waits_for_a_slow_handler(ctx: Any, mode: str, tmp_path: Path) -> None:
    """A 1 ms-per-record handler, 4 children that log a burst each and exit, main logging
    too: after stop() every record is in the file, once, in order; nobody is reported torn
    or cut off."""
    path = tmp_path / "slow.log"
    per_child = _burst(0.001) // 4
    listener = mplog.setup_listener(
        handlers=functools.partial(_faults.slow_file_handlers, str(path), 0.001),
        mode=mode,
        level="INFO",
    )
    stats = _run_and_stop(listener, ctx, 4, per_child, 200)
    tags = {f"c{k}": per_child for k in range(4)} | {"main": 200}
    _assert_all_there(read_lines(path), stats, tags)


def _slow_config(path: Path, delay: float, *, rotating: bool) -> dict[str, Any]:
    handler: dict[str, Any] = {
        "()": "tests._faults.SlowRotatingFileHandler"
        if rotating
        else "tests._faults.SlowFileHandler",
        "delay": delay,
    }
    if rotating:  # rotates every ~40 records; keeps every file
        handler.update(filename=str(path), maxBytes=4000, backupCount=10_000)
        handler["formatter"] = "plain"
    else:
        handler["path"] = str(path)
    return {
        "version": 1,
        "formatters": {"plain": {"format": FMT}},
        "handlers": {"slow": handler},
        "root": {"level": "INFO", "handlers": ["slow"]},
    }


def _rotated_lines(path: Path) -> list[dict[str, str]]:
    """Every line of ``path`` and its backups, oldest first."""
    backups = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    return [line for p in [*backups, path] for line in read_lines(p)]


@pytest.mark.parametrize("destination", ["handlers", "config", "rotating"])
def test_stop_waits_for_a_very_slow_destination(
    destination: str, mode: str, tmp_path: Path
) -> None:
    """A 10 ms-per-record destination (handlers=, a dictConfig handler, a dictConfig
    RotatingFileHandler rotating all along) under spawned workers: every record arrives."""
    path = tmp_path / "slow.log"
    delay = 0.01
    if destination == "handlers":
        factory = functools.partial(_faults.slow_file_handlers, str(path), delay)
        listener = mplog.setup_listener(handlers=factory, mode=mode, level="INFO")
    else:
        config = _slow_config(path, delay, rotating=destination == "rotating")
        listener = mplog.setup_listener(config=config, mode=mode)
    per_child = _burst(delay) // 2
    stats = _run_and_stop(listener, multiprocessing.get_context("spawn"), 2, per_child, 20)
    lines = _rotated_lines(path) if destination == "rotating" else read_lines(path)
    tags = {"c0": per_child, "c1": per_child, "main": 20}
    _assert_all_there(lines, stats, tags)


def test_stop_timeout_counts_exactly_what_it_cuts_off(
    ctx: Any, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A child that is still alive with a long backlog when stop()'s timeout passes: the
    records handled are a gap-free prefix, and written + unread is exactly what it logged,
    the unread bytes exactly the frames it wrote after that prefix; stderr says so in one
    line; the process is cut off, not reported torn or dead."""
    path = tmp_path / "slow.log"
    n = 1500
    listener = mplog.setup_listener(
        handlers=functools.partial(_faults.slow_file_handlers, str(path), 0.01),
        mode=mode,
        level="INFO",
    )
    sizes_in, sizes_out = ctx.Pipe(duplex=False)
    release = ctx.Event()
    child = mplog.Process(
        target=_faults.storm_measured, args=("long", n, sizes_out, release), context=ctx
    )
    child.start()
    try:
        assert sizes_in.poll(60), "the child did not finish logging"
        sizes = sizes_in.recv()
        stats = listener.stop(timeout=1.0)
    finally:
        release.set()
        join_process(child, 60)
    process = stats["processes"][child.pid]
    written = process["written"]
    _faults.assert_prefix(_faults.seq_by_tag(read_lines(path)), "long")
    assert len(read_lines(path)) == written
    assert (written + process["unread_records"], len(sizes)) == (n, n)
    assert process["unread_bytes"] == sum(sizes[written:]) > 0
    assert process["state"] == "cut off by stop()"
    assert stats["torn_frames"] == stats["workers_dead"] == 0
    notice = [line for line in capsys.readouterr().err.splitlines() if "stop() timed out" in line]
    assert len(notice) == 1, notice
    assert f"{n - written} records ({process['unread_bytes']} bytes)" in notice[0]
    assert f"pid {child.pid} " in notice[0]
