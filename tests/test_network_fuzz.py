"""Hostile input from the network: a seeded generator of random and mutated frames against the
decoder directly, then against a running listener while a legitimate sender logs into it.

Everything is seeded (``random.Random``): a failure reproduces with the same seed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

import mplog
from mplog import _frames, _protocol
from mplog._listener import untrusted
from mplog._outputs.destinations import FileDestination
from mplog._settings import MAX_FRAME, Network, NetworkLimits
from mplog._worker import connection as _connection
from tests._helpers import FMT, TIMEOUT, check_sequences, parse_line, wait_for

KEY = b"fuzz-key-" * 4
#: What the listener may raise while decoding hostile bytes: it cuts that sender off.
DECODING_ERRORS = (ValueError, EOFError, TypeError, KeyError, OverflowError)


def _valid_frames(rng: random.Random) -> list[bytes]:
    """Frames a real sender writes: records of every shape, a hello, a goodbye."""
    frames = []
    for i in range(30):
        args = (i, [1, (2.5, None), {"k": b"v"}], "x" * rng.randrange(200))
        record = logging.LogRecord("fuzz.a", 20, "f.py", i, "r %d %s %s", args, None)
        record.extra_field = {"nested": [[[i]]], "n": -(2**70)}
        frames.append(_protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record)))
    hello = {"pid": 7, "name": "x", "role": "worker", "host": "h", "auth": "0" * 64}
    frames.append(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)))
    frames.append(_protocol.frame(_protocol.KIND_BYE, b""))
    frames.append(_protocol.line_frame(20, "a line"))
    return frames


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    op = rng.randrange(7)
    if op == 0:  # flipped bytes
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 1:  # truncated
        del data[rng.randrange(len(data)) :]
    elif op == 2:  # a huge (or any) length
        huge = (MAX_FRAME + 1, 2**32 - 1, rng.randrange(2**32), rng.randrange(64))
        data[0:4] = struct.pack("!I", rng.choice(huge))
    elif op == 3:  # a wrong kind
        data[4] = rng.randrange(256)
    elif op == 4:  # bytes inserted in the body
        at = rng.randrange(5, len(data) + 1)
        data[at:at] = rng.randbytes(rng.randrange(1, 8))
    elif op == 5:  # a marshal container announcing far more items than there are
        body = rng.choice((b"(", b"[", b"{")) + struct.pack("<i", rng.randrange(2**31))
        data = bytearray(_protocol.frame(_protocol.KIND_RECORD, body))
    else:  # noise
        data = bytearray(rng.randbytes(rng.randrange(1, 64)))
    return bytes(data)


def test_the_decoder_survives_a_million_hostile_frames() -> None:
    """FrameReader (with the network limit) and the untrusted decoder: only decoding errors,
    never a crash, a hang or a huge allocation; every valid frame still decodes. A million
    frames go through readers in streams cut at random points (a stream is dropped, as its
    connection would be, at its first oversized frame), and 300,000 mutated frames are each
    split and decoded on their own, so every one of them reaches the decoder."""
    rng = random.Random(20261202)
    valid = _valid_frames(rng)
    for frame in valid:
        _decode(_frames.FrameReader(MAX_FRAME).feed(frame)[0])
    rejected = Counter[str]()
    for _ in range(1_000_000 // 50):
        stream = b"".join(
            _mutate(rng, rng.choice(valid)) if rng.random() < 0.7 else rng.choice(valid)
            for _ in range(50)
        )
        reader = _frames.FrameReader(MAX_FRAME)
        pos = 0
        try:
            while pos < len(stream):
                step = rng.randrange(1, 400)
                for item in reader.feed(stream[pos : pos + step]):
                    rejected[_decode(item)] += 1
                pos += step
        except _protocol.FrameTooLarge:
            rejected["oversized"] += 1
        assert reader.pending <= MAX_FRAME + 5 + 400
    for _ in range(300_000):
        frame = _mutate(rng, rng.choice(valid))
        try:
            items = _frames.FrameReader(MAX_FRAME).feed(frame)
        except _protocol.FrameTooLarge:
            rejected["oversized"] += 1
            continue
        for item in items:
            rejected[_decode(item)] += 1
    assert rejected["malformed"] > 100_000 and rejected["oversized"] > 10_000, rejected


def _decode(item: tuple[int, bytes]) -> str:
    """Decode one frame as the listener does: "ok", or "malformed" when it is refused."""
    kind, body = item
    try:
        if kind == _protocol.KIND_RECORD:
            untrusted.record_fields(body)
        elif kind == _protocol.KIND_HELLO:
            untrusted.decode(body)
    except DECODING_ERRORS:
        return "malformed"
    return "ok"


class _Hostiles:
    """Threads that hammer the listener's network socket with seeded hostile connections."""

    def __init__(self, address: tuple[str, int], seed: int) -> None:
        self.address = address
        self.seed = seed
        self.frames = 0
        self.errors: Counter[str] = Counter()
        self.refused = 0
        self._lock = threading.Lock()

    def run(self, kind: str, connections: int) -> None:
        """Make ``connections`` hostile connections the listener admits (it sent them its
        challenge); those it refuses over its limits are tried again."""
        rng = random.Random(f"{self.seed}-{kind}")
        valid = _valid_frames(rng)
        admitted = attempts = 0
        while admitted < connections and attempts < 50 * connections:
            attempts += 1
            try:
                with socket.create_connection(self.address, timeout=TIMEOUT) as sock:
                    challenge = _challenge(sock)
                    admitted += 1
                    burst = [_mutate(rng, rng.choice(valid)) for _ in range(60)]
                    with self._lock:
                        self.frames += len(burst)
                    if kind == "wrong key":
                        hello = {"pid": 1, "role": "worker"}
                        hello["auth"] = _protocol.answer(b"not the key", challenge)
                        burst.insert(0, _hello(hello))
                    elif kind == "key holder":  # then malformed and oversized frames
                        hello = {"pid": 2, "role": "worker", "host": "evil", "name": "e"}
                        hello["auth"] = _protocol.answer(KEY, challenge)
                        burst.insert(0, _hello(hello))
                    sock.sendall(b"".join(burst))
                    sock.shutdown(socket.SHUT_WR)  # a frame cut short is then torn
                    _until_closed(sock)
            except _Refused:
                self.refused += 1
            except OSError as exc:  # cut off mid-send: what the listener should do
                self.errors[type(exc).__name__] += 1


class _Refused(Exception):
    """The listener closed a connection before its challenge (over its limits)."""


def _challenge(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 37:
        chunk = sock.recv(37 - len(data))
        if not chunk:
            raise _Refused
        data += chunk
    return data[5:]


def _hello(body: dict[str, object]) -> bytes:
    return _protocol.frame(_protocol.KIND_HELLO, _protocol.encode(body))


def _until_closed(sock: socket.socket) -> None:
    while sock.recv(65536):
        pass


def _legit_sender(address: tuple[str, int], count: int) -> None:
    """An authenticated sender shipping ``count`` sequence records, then its goodbye."""
    stream = _connection.open_stream(address, "", block_timeout=TIMEOUT, buffer_bytes=None, key=KEY)
    for i in range(count):
        record = logging.LogRecord("legit", 20, __file__, 1, "seq legit %d %d", (i, i), None)
        record.processName = "legit"
        stream.send(_protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record)))
    stream.send(_protocol.frame(_protocol.KIND_BYE, b""))
    stream.close()


def test_a_listener_under_attack_keeps_every_legitimate_record(log_path: Path) -> None:
    """Garbage, wrong keys, a key holder sending malformed and oversized frames, slow-loris
    connections and a connection flood, all at once: the listener keeps running, cuts each
    off with its reason counted, logs a bounded number of lines, stays small in memory, and
    the legitimate sender's records all arrive, once, in order."""
    network = Network(
        "127.0.0.1",
        0,
        KEY,
        limits=NetworkLimits(
            handshake_timeout=0.5, max_connections=64, max_unauthenticated=16, stall_timeout=0.5
        ),
    )
    destination = FileDestination(str(log_path), None, FMT)
    listener = mplog.Listener(destination, mode="process", level="INFO", network=network)
    listener.start()
    address = listener.network_address
    assert address is not None
    hostiles = _Hostiles(address, seed=1202)
    threads = [
        threading.Thread(target=hostiles.run, args=(kind, 600), daemon=True)
        for kind in ("garbage", "wrong key", "key holder")
    ]
    threads.append(threading.Thread(target=_legit_sender, args=(address, 3000), daemon=True))
    for thread in threads:
        thread.start()
    idle = _flood(address, listener)  # slow loris and over the limit, meanwhile
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a sender did not finish"
    rss = psutil.Process(listener._runner.pid).memory_info().rss
    for sock in idle:
        sock.close()
    stats = listener.stop()
    assert "error" not in stats
    # A key holder's records (mutated, multi-line messages included) are in the file too.
    text = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    legit = [parse_line(line) for line in text if "|legit|" in line and "seq legit" in line]
    check_sequences(legit, {"legit": 3000}, by="processName")
    counts = stats["network"]
    assert all(counts[reason] > 0 for reason in counts), (str(counts), hostiles.errors)
    assert hostiles.frames >= 100_000
    notices = [line for line in text if "|network connection from" in line]
    assert len(notices) < sum(counts.values()) / 4  # rate-limited
    assert rss < 200 * 2**20


def _flood(address: tuple[str, int], listener: mplog.Listener) -> list[socket.socket]:
    """Open idle connections until the listener refuses one over its limit, and wait until
    idle ones are cut off for their silence; return those still open."""
    idle: list[socket.socket] = []

    def counted(reason: str) -> Callable[[], bool]:
        return lambda: listener.stats()["network"][reason] > 0

    def refuse_one() -> bool:
        for _ in range(8):
            idle.append(socket.create_connection(address, timeout=TIMEOUT))
        return counted("over_limit")()

    wait_for(refuse_one, TIMEOUT, "a connection refused over the limit", interval=0.0)
    wait_for(counted("timed_out"), TIMEOUT, "a silent connection cut off")
    # A key holder that stops in the middle of a frame.
    for sock in idle:
        sock.close()
    holder, challenge = wait_for(
        lambda: _challenged(address), TIMEOUT, "a connection under the limits"
    )
    hello = {"pid": 3, "role": "worker", "auth": _protocol.answer(KEY, challenge)}
    holder.sendall(_hello(hello) + _protocol.frame(_protocol.KIND_RECORD, b"x" * 100)[:50])
    wait_for(counted("stalled"), TIMEOUT, "a stalled key holder cut off")
    return [holder]


def _challenged(address: tuple[str, int]) -> tuple[socket.socket, bytes] | None:
    """A connection and its challenge, or None if the listener refused it: the hostile
    threads' connections and the flood's just-closed ones (until the listener reads their
    end) still count against its limits, so a refusal here is the listener doing its job."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    try:
        return sock, _challenge(sock)
    except _Refused:
        sock.close()
        return None


@pytest.mark.parametrize("size", [MAX_FRAME + 1, 2**32 - 1])
def test_an_oversized_frame_is_cut_off_before_it_is_buffered(size: int, log_path: Path) -> None:
    """A frame announcing more than the limit is refused at its header: the listener does not
    wait for (or keep) the rest."""
    listener = mplog.setup_listener(log_path, fmt=FMT, listen="127.0.0.1:0", key=KEY)
    address = listener.network_address
    assert address is not None
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        hello = {
            "pid": os.getpid(),
            "role": "worker",
            "auth": _protocol.answer(KEY, _challenge(sock)),
        }
        sock.sendall(_hello(hello) + struct.pack("!IB", size, _protocol.KIND_RECORD) + b"x" * 1000)
        _until_closed(sock)
    stats = listener.stop()
    assert stats["network"]["oversized"] == 1


def test_a_stranger_may_send_only_a_small_hello(log_path: Path) -> None:
    """Before the key is proven, a hello over 4 KiB is refused, even one that arrives whole
    in one read (the key is checked only after the hello is decoded)."""
    listener = mplog.setup_listener(log_path, fmt=FMT, listen="127.0.0.1:0", key=KEY)
    address = listener.network_address
    assert address is not None
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        challenge = _challenge(sock)
        hello = {"pid": 1, "role": "worker", "name": "n" * 10_000}
        hello["auth"] = _protocol.answer(KEY, challenge)
        sock.sendall(_hello(hello))
        _until_closed(sock)
    stats = listener.stop()
    assert stats["network"]["oversized"] == 1
    assert not stats["processes"]  # it never became a sender
