"""Network senders survive outages: the listener restarts, the connection is cut, the listener
is not there yet; records are spooled (bounded), sent again after a reconnect, and reach the
file once each, in order. Real processes, real sockets, a real forwarder that drops
connections."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _frames, _protocol
from mplog._lineplan import DESTS_FIELD, MORE
from mplog._settings import MIN_SPOOL
from mplog._worker import reconnect
from mplog._worker.reconnect import undelivered
from mplog._worker.spool import Spool
from tests._helpers import (
    FMT,
    TIMEOUT,
    call_within,
    check_sequences,
    read_lines,
    wait_for,
    wait_received,
)
from tests._proxy import Proxy

KEY = "s" * 32

SENDER = """
import json, logging, sys, time
import mplog

port, count, pause, shipping, tag = sys.argv[1:]
count, pause = int(count), float(pause)
mplog.connect(("127.0.0.1", int(port)), key="{key}", level="INFO",
              shipping=mplog.Shipping(**json.loads(shipping)))
log = logging.getLogger("remote")
for i in range(count):
    log.info("seq %s %d %d", tag, i, i)
    if pause:
        time.sleep(pause)
print("logged", flush=True)
sys.stdin.readline()  # the test says when to end
"""


@contextmanager
def sender(
    tmp_path: Path, port: int, count: int, pause: float = 0.0, tag: str = "far", **shipping: Any
) -> Iterator[subprocess.Popen[str]]:
    """A separate program logging ``count`` "seq <tag>" records into ``127.0.0.1:port``; it
    ends (and the block checks it succeeded) when the block is left."""
    script = tmp_path / "sender.py"
    script.write_text(SENDER.format(key=KEY))
    args = [str(port), str(count), str(pause), json.dumps(shipping), tag]
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
        if process.returncode is None:
            end(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)


def logged(process: subprocess.Popen[str]) -> None:
    """Wait until ``process`` has made all its logging calls."""
    assert process.stdout is not None
    lines: list[str] = []
    call_within(lambda: lines.append(process.stdout.readline()), TIMEOUT, "the sender")  # type: ignore[union-attr]
    assert lines == ["logged\n"], process.stderr.read() if process.stderr else ""


def end(process: subprocess.Popen[str]) -> str:
    """Let ``process`` end; return its stderr (it must exit with 0)."""
    if process.returncode is None:
        _, err = process.communicate("\n", timeout=TIMEOUT)
        process.stderr_text = err  # type: ignore[attr-defined]
    assert process.returncode == 0, process.stderr_text  # type: ignore[attr-defined]
    return str(process.stderr_text)  # type: ignore[attr-defined]


def reserved_port() -> socket.socket:
    """A socket bound to a free port and not listening: connections to it are refused until
    it is closed and a listener takes the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def start(log_path: Path, port: int = 0, **kwargs: Any) -> mplog.Listener:
    return mplog.setup_listener(
        log_path, fmt=FMT, level="INFO", listen=f"127.0.0.1:{port}", key=KEY, **kwargs
    )


def test_the_listener_restarts_while_a_sender_logs(tmp_path: Path, log_path: Path) -> None:
    """A listener stopped while a sender logs, and a new one on the same port and key: every
    record reaches the file once, in order (the drain acknowledged what it wrote)."""
    first = start(log_path)
    _, port = first.network_address or ("", 0)
    with sender(tmp_path, port, 1500, pause=0.002) as process:
        wait_received(first, 200)
        before = first.stop(timeout=0.3)
        second = start(log_path, port)
        logged(process)
        wait_received(second, 1500 - before["written"])
        err = end(process)
    after = second.stop()
    check_sequences(read_lines(log_path), {"far": 1500})
    assert before["written"] + after["written"] == 1500
    assert "cannot reach the log listener" in err
    assert "did not acknowledge" not in err


def test_after_a_listener_crash_nothing_is_lost(tmp_path: Path, log_path: Path) -> None:
    """A listener process killed while a sender logs, and a new one on the same port: every
    record arrives; those the dead one wrote but had not acknowledged may arrive twice
    (at-least-once, as the README says), each listener's share in order."""
    first = start(tmp_path / "first.log", mode="process")
    _, port = first.network_address or ("", 0)
    with sender(tmp_path, port, 1500, pause=0.002) as process:
        wait_received(first, 300)
        os.kill(first._runner.pid, signal.SIGKILL)
        assert "error" in first.stop()
        second = start(log_path, port)
        logged(process)
        wait_received(second, 1)
        err = end(process)
    second.stop()
    pattern = re.compile(r"\|seq far (\d+) \d+$")
    shares = [
        [int(m[1]) for line in path.read_text().splitlines() if (m := pattern.search(line))]
        for path in (tmp_path / "first.log", log_path)
    ]
    assert shares[0] == list(range(len(shares[0])))
    assert shares[1] == list(range(shares[1][0], 1500))
    assert shares[1][0] <= len(shares[0])  # nothing lost in between
    assert "did not acknowledge" not in err


def test_unreachable_at_start(tmp_path: Path, log_path: Path) -> None:
    """mplog.connect to a listener that is not there yet: the records are spooled and arrive
    once it listens."""
    reserved = reserved_port()
    port = reserved.getsockname()[1]
    with sender(tmp_path, port, 50) as process:
        logged(process)
        reserved.close()
        listener = start(log_path, port)
        wait_received(listener, 50)
        err = end(process)
    stats = listener.stop()
    check_sequences(read_lines(log_path), {"far": 50})
    assert stats["written"] == 50
    assert "ConnectionRefusedError" in err


def test_connections_cut_in_the_middle(tmp_path: Path, log_path: Path) -> None:
    """A forwarder resets the connection three times while the sender logs (what it had read
    and not forwarded is lost on the way): nothing is lost or written twice."""
    listener = start(log_path)
    proxy = Proxy(listener.network_address or ("", 0))
    try:
        with sender(tmp_path, proxy.port, 2000, pause=0.001) as process:
            for cut in range(1, 4):
                wait_received(listener, 300 * cut)
                wait_for(proxy.connections, TIMEOUT, "a connection through the proxy")
                proxy.cut()
            logged(process)
            wait_received(listener, 2000)
    finally:
        proxy.close()
    stats = listener.stop()
    check_sequences(read_lines(log_path), {"far": 2000})
    assert stats["written"] == 2000
    assert stats["reconnects"] >= 3
    (entry,) = stats["processes"].values()  # one process, one entry, all connections counted
    assert entry["written"] == 2000


def test_beyond_the_spool_records_are_dropped_and_said(tmp_path: Path, log_path: Path) -> None:
    """With on_full="drop", records beyond a full spool (the listener is away) are dropped and
    counted; the count reaches the log after the reconnect; the spooled ones all arrive."""
    reserved = reserved_port()
    port = reserved.getsockname()[1]
    count = 6000
    with sender(tmp_path, port, count, on_full="drop", spool_bytes=MIN_SPOOL) as process:
        logged(process)
        reserved.close()
        listener = start(log_path, port)
        wait_for(lambda: listener.stats()["received"], TIMEOUT, "the spooled records")
        end(process)
    stats = listener.stop()
    lines = read_lines(log_path)
    numbers = [int(r["message"].split()[2]) for r in lines if r["message"].startswith("seq")]
    assert 0 < len(numbers) < count and numbers == list(range(len(numbers)))
    said = [r["message"] for r in lines if r["message"].startswith("dropped")]
    counts = [int(re.findall(r"^dropped (\d+) INFO records from pid \d+", m)[0]) for m in said]
    assert sum(counts) == count - len(numbers)
    assert stats["dropped"] == count - len(numbers)


def test_a_logging_call_waits_no_longer_than_block_timeout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """on_full="block" with the listener away: once the spool is full, a call waits for room
    up to block_timeout, then the process gives up on the listener and every record, the
    spooled ones included, goes to stderr."""
    reserved = reserved_port()
    shipping = mplog.Shipping(block_timeout=0.5, spool_bytes=MIN_SPOOL)
    try:
        mplog.connect(reserved.getsockname(), key=KEY, shipping=shipping)
        log = logging.getLogger("blocked")
        call_within(lambda: [log.warning("r%d %s", i, "x" * 10_000) for i in range(300)], 30)
    finally:
        reserved.close()
    err = capfd.readouterr().err
    assert err.count("(it accepted nothing for 0.5s); its records go to stderr") == 1
    assert sorted(re.findall(r"WARNING r(\d+) x", err), key=int) == [str(i) for i in range(300)]


def test_a_file_spool_outlives_its_process(tmp_path: Path, log_path: Path) -> None:
    """With spool_dir, what a process could not deliver (it was killed; or it ended while the
    listener was away) is sent by the next process that spools there, before its own."""
    reserved = reserved_port()
    port = reserved.getsockname()[1]
    spool = {"spool_dir": str(tmp_path / "spool"), "block_timeout": 0.5}
    with sender(tmp_path, port, 20, tag="killed", **spool) as killed:
        logged(killed)
        killed.kill()
        killed.wait(TIMEOUT)
    assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
    with sender(tmp_path, port, 20, tag="ended", **spool) as ended:
        logged(ended)  # it takes the killed one's file over, then leaves its own
    assert "kept in" in ended.stderr_text  # type: ignore[attr-defined]
    reserved.close()
    listener = start(log_path, port)
    with sender(tmp_path, port, 20, tag="last", **spool) as last:
        logged(last)
        wait_received(listener, 60)
    listener.stop()
    check_sequences(read_lines(log_path), {"killed": 20, "ended": 20, "last": 20})
    assert list((tmp_path / "spool").glob("*.spool")) == []


FORKER = """
import logging, os, sys
import mplog

mplog.connect(("127.0.0.1", int(sys.argv[1])), key="{key}", level="INFO")
log = logging.getLogger("forker")
for i in range(10):
    log.info("seq parent %d %d", i, i)
logged, go = os.pipe(), os.pipe()
pid = os.fork()
if pid == 0:
    for i in range(10):
        log.info("seq child %d %d", i, i)
    os.write(logged[1], b"x")
    os.read(go[0], 1)
    logging.shutdown()
    os._exit(0)
os.read(logged[0], 1)
print("logged", flush=True)
sys.stdin.readline()
os.write(go[1], b"x")
assert os.waitpid(pid, 0)[1] == 0
"""


def test_fork_of_a_process_with_spooled_records(tmp_path: Path, log_path: Path) -> None:
    """A process forks while its records wait in the spool (the listener is away): the child
    spools its own and never sends its parent's; both arrive once the listener is up."""
    reserved = reserved_port()
    port = reserved.getsockname()[1]
    script = tmp_path / "forker.py"
    script.write_text(textwrap.dedent(FORKER.format(key=KEY)))
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        logged(process)
        reserved.close()
        listener = start(log_path, port)
        wait_received(listener, 20)
        end(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    listener.stop()
    pairs = check_sequences(read_lines(log_path), {"parent": 10, "child": 10})
    assert pairs["parent"][0][0] != pairs["child"][0][0]


POOL_SENDER = """
import itertools, logging, multiprocessing, sys, time
import mplog

COUNT = itertools.count()


def task(n):
    log = logging.getLogger("remote.pool")
    for i in range(200):
        log.info("seq t%d %d %d", n, next(COUNT), i)
        time.sleep(0.002)


if __name__ == "__main__":
    mplog.connect(("127.0.0.1", int(sys.argv[1])), key="{key}", level="INFO")
    context = multiprocessing.get_context(sys.argv[2])
    with mplog.ProcessPoolExecutor(2, mp_context=context) as pool:
        list(pool.map(task, range(4)))
    print("logged", flush=True)
    sys.stdin.readline()
"""


def test_pool_workers_of_a_connected_process_survive_cuts(
    start_method: str, tmp_path: Path, log_path: Path
) -> None:
    """The workers of a pool created after mplog.connect (fork, spawn, forkserver) are
    network senders too: connections cut under them lose and repeat nothing."""
    listener = start(log_path)
    proxy = Proxy(listener.network_address or ("", 0))
    script = tmp_path / "pool_sender.py"
    script.write_text(POOL_SENDER.replace("{key}", KEY))
    process = subprocess.Popen(
        [sys.executable, str(script), str(proxy.port), start_method],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        for cut in (1, 2):
            wait_received(listener, 200 * cut)
            proxy.cut()
        logged(process)
        end(process)
    finally:
        proxy.close()
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    stats = listener.stop()
    check_sequences(read_lines(log_path), {f"t{n}": 200 for n in range(4)})
    assert stats["reconnects"] >= 2


def test_undelivered_entries_give_each_record_once() -> None:
    """What a sender writes to stderr when the listener never acknowledged it: each record
    once, whether its entry held a line, lines for several handlers, or a record frame."""
    record = logging.LogRecord("n", 20, __file__, 1, "as a record", None, None)
    fields = _protocol.wire_fields(record)
    counted = _protocol.wire_fields(record) | {DESTS_FIELD: [1, 2]}
    entries = [
        _protocol.line_frame(20, "single"),
        _protocol.dest_line_frame(20, 0, b"first\n")
        + _protocol.dest_line_frame(20, MORE | 1, b"x\n")
        + _protocol.frame(_protocol.KIND_RECORD, _protocol.encode(counted)),
        _protocol.frame(_protocol.KIND_RECORD, _protocol.encode(fields)),
        _protocol.frame(_protocol.KIND_BYE, b""),
    ]
    found = undelivered(entries)
    assert found[:2] == ["single\n", "first\n"]
    assert len(found) == 3 and isinstance(found[2], dict) and found[2]["msg"] == "as a record"


def _acknowledging(sock: socket.socket) -> None:
    """A stand-in listener: acknowledges every frame it reads, until the stream ends (or
    TIMEOUT passes without data, if the test failed before ending it); then closes it."""
    sock.settimeout(TIMEOUT)
    reader, seen = _frames.FrameReader(), 0
    with sock:
        while data := sock.recv(1 << 16):
            seen += len(reader.feed(data))
            sock.sendall(_protocol.frame(_protocol.KIND_ACK, _protocol.ACK.pack(seen)))


def test_a_sender_ending_during_an_outage_reconnects_within_its_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listener is away and the connection thread waits out a long backoff when the
    process ends: close() wakes it, so the listener, back meanwhile, gets the spool within
    the grace instead of the records going to stderr."""
    monkeypatch.setattr(reconnect, "BACKOFF_FIRST", 600.0)  # the next attempt: 5-10 minutes
    back = threading.Event()
    ends: list[socket.socket] = []

    def opener(**_: Any) -> socket.socket:
        if not back.is_set():
            raise ConnectionRefusedError("the listener is away")
        ours, theirs = socket.socketpair()
        ends.append(theirs)
        threading.Thread(target=_acknowledging, args=(theirs,), daemon=True).start()
        return ours

    stream = reconnect.ResilientStream(
        opener, Spool(MIN_SPOOL), "s", block_timeout=None, live_levels=False, where="test"
    )
    stream.start(lambda: None, TIMEOUT)  # the first attempt fails: a long wait begins
    stream.send(_protocol.frame(_protocol.KIND_RECORD, b"kept"))
    back.set()
    left: list[list[bytes]] = []
    call_within(lambda: left.append(stream.close(grace=TIMEOUT)), TIMEOUT + 5, "close()")
    assert ends, "no reconnect within the grace"
    assert left == [[]]  # every frame acknowledged: none left for stderr
    for end in ends:
        with contextlib.suppress(OSError):  # unless its thread saw the end and closed it
            end.shutdown(socket.SHUT_RDWR)  # its thread closes it
