"""mplog._listener.deaths: deaths reported once, after a settle time; announced exits only
recorded."""

from __future__ import annotations

import os
import selectors
import socket
import time

from mplog._listener.deaths import SETTLE, Deaths
from mplog._listener.peers import Peer


def _peer(pid: int) -> Peer:
    a, b = socket.socketpair()
    b.close()
    peer = Peer(a, pid=pid, name=f"Worker-{pid}", received=7)
    peer.exit_status = "killed by SIGKILL"
    return peer


def _deaths() -> tuple[Deaths, list[tuple[int, str]]]:
    reports: list[tuple[int, str]] = []
    deaths = Deaths(
        selectors.DefaultSelector(), lambda lvl, msg: reports.append((lvl, msg)), local=False
    )
    return deaths, reports


def test_death_is_reported_after_the_settle_time() -> None:
    """An unannounced end is reported once, as a WARNING naming pid, how and the count."""
    deaths, reports = _deaths()
    peer = _peer(4242)
    deaths.ended_without_goodbye(peer)
    deaths.settle()
    assert reports == [], "reported before the settle time"
    time.sleep(SETTLE + 0.05)
    deaths.settle()
    assert reports == [
        (
            30,
            "process 4242 (Worker-4242) ended without closing its log stream "
            "(killed by SIGKILL); 7 records were received from it",
        )
    ]
    assert peer.ended == "died: killed by SIGKILL"
    deaths.settle(everything=True)
    assert len(reports) == 1


def test_announcement_read_after_the_end_still_counts() -> None:
    """An exit announced just after the stream ended (another socket, read later) is
    recorded as intended, not reported."""
    deaths, reports = _deaths()
    peer = _peer(4243)
    deaths.ended_without_goodbye(peer)
    deaths.expect([4243], "Pool.terminate()")
    deaths.settle(everything=True)
    assert reports == []
    assert peer.ended == "ended by Pool.terminate() (killed by SIGKILL)"


def test_sigterm_is_reported_at_info() -> None:
    """A polite kill (SIGTERM) nobody announced is INFO, not WARNING."""
    deaths, reports = _deaths()
    peer = _peer(4244)
    peer.exit_status = "killed by SIGTERM"
    deaths.ended_without_goodbye(peer)
    deaths.settle(everything=True)
    assert [level for level, _ in reports] == [20]


def test_pidfd_watch_reads_the_status_before_reaping() -> None:
    """A watched local child's exit status is read when it exits, before it is reaped."""
    selector = selectors.DefaultSelector()
    deaths = Deaths(selector, lambda lvl, msg: None, local=True)
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    peer = _peer(pid)
    peer.exit_status = None
    deaths.watch(peer)
    try:
        events = selector.select(10)
        assert events, "the pidfd never turned readable"
        deaths.exited(events[0][0].data)
        assert peer.exit_status == "exit code 3"
    finally:
        os.waitpid(pid, 0)
        deaths.close()
