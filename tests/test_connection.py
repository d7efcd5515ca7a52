"""mplog._worker.connection: the pipe stream a process writes into, and what it must never leak."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest

import mplog
from mplog import _protocol
from mplog._lineplan import MORE
from mplog._worker.connection import _F_SETPIPE_SZ, Stream, open_stream
from tests import _faults
from tests._helpers import join_process, wait_for


def _pipe_stream(size: int = 4096, timeout: float | None = 0.2) -> tuple[Stream, int]:
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    fcntl.fcntl(writer, _F_SETPIPE_SZ, size)
    a, b = socket.socketpair()
    b.close()
    return Stream(a, writer, timeout), reader


def test_send_blocks_then_times_out_when_nobody_reads() -> None:
    """A full pipe makes send() wait, then fail with BlockingIOError after block_timeout;
    send_if_room() refuses at once instead of waiting."""
    stream, reader = _pipe_stream()
    try:
        while stream.send_if_room(b"x" * 100):
            pass
        started = time.monotonic()
        with pytest.raises(BlockingIOError):
            stream.send(b"y" * 100)
        assert 0.15 < time.monotonic() - started < 2.0
    finally:
        stream.close()
        os.close(reader)


def test_large_frames_arrive_whole_through_a_small_pipe() -> None:
    """A frame far larger than the pipe is written in pieces as the reader drains it."""
    stream, reader = _pipe_stream(timeout=5.0)
    payload = os.urandom(1 << 20)
    received = bytearray()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if (stream.send(payload), True) else 1)
    # Only the child keeps the write end: if it dies early, the read sees EOF, not a hang.
    assert stream._pipe is not None
    os.close(stream._pipe)
    stream._pipe = None
    try:
        while chunk := os.read(reader, 1 << 16):
            received += chunk
    finally:
        os.waitpid(pid, 0)
        stream.close()
        os.close(reader)
    assert bytes(received) == b"\0" + payload  # on a pipe, a NUL before each frame


def test_tcp_listener_gets_no_pipe(tmp_path: Path) -> None:
    """Over TCP the socket carries the frames: no file descriptor can be passed."""
    with mplog.setup_listener(tmp_path / "t.log", address=("127.0.0.1", 0)) as listener:
        config = listener.worker_config
        stream = open_stream(config.address, config.token, block_timeout=1.0, buffer_bytes=None)
        assert stream._pipe is None
        stream.close()


def _fork_sleeper_then_exit() -> None:
    logging.getLogger("parent").warning("before fork")
    pid = os.fork()
    if pid == 0:
        time.sleep(30)  # outlives its parent; must not hold the parent's stream open
        os._exit(0)
    logging.getLogger("parent").warning("forked %d", pid)
    os._exit(0)


def _kill_forked(path: Path) -> None:
    for line in path.read_text().splitlines():
        if line.startswith("forked "):
            with contextlib.suppress(OSError):
                os.kill(int(line.split()[1]), signal.SIGKILL)


def test_a_forked_child_does_not_keep_its_parents_stream_open(tmp_path: Path) -> None:
    """The parent's stream ends when the parent dies, though the child it forked lives on
    (30 s): the child closed its copy of the pipe (else the listener would wait for it)."""
    path = tmp_path / "f.log"
    with mplog.setup_listener(path, level="INFO", fmt="%(message)s") as listener:
        process = mplog.Process(
            target=_fork_sleeper_then_exit, context=multiprocessing.get_context("spawn")
        )
        process.start()
        pid = process.pid
        try:
            # The parent exits at once; it stays unreaped so that its status is known.
            state = wait_for(lambda: _faults.ended_state(listener, pid), 20, "its end")
        finally:
            _kill_forked(path)  # it holds the parent's sentinel: join() would wait for it
            join_process(process, 10)
    assert state.startswith("died"), state


def test_a_socket_stream_sends_a_plans_lines_framed() -> None:
    """Without a pipe (a socket carries frames only), a record's first line goes in a
    ``KIND_DEST_LINE`` frame, the frames after it as they are, and a shipment with no line
    (``NO_LINE``) is its frames alone; nothing sets a level or an output."""
    left, right = socket.socketpair()
    with left, right:
        stream = Stream(left, None, 5.0)
        more = _protocol.dest_line_frame(20, 1 | MORE, b"b\n")
        record = _protocol.frame(_protocol.KIND_RECORD, b"r")
        assert stream.send_shipment((20, 0, b"a\n", more))
        assert stream.send_shipment((30, _protocol.NO_LINE, b"", record), wait=False)
        left.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := right.recv(1 << 16):
            data += chunk
    assert data == _protocol.dest_line_frame(20, 0, b"a\n") + more + record
