"""Logging over the network: listen=, keys, the HMAC handshake, hostname, mplog.connect from a
process that is not a child (a real separate process, with a pool of its own)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _frames, _protocol
from mplog._settings import Network, load_key, parse_address
from mplog._worker import connection as _connection
from mplog._worker.context import HOSTNAME
from tests import _workers
from tests._helpers import FMT, TIMEOUT, check_sequences, parse_line, read_lines, run_sender

KEY = "k" * 32
NET_FMT = "%(hostname)s|" + FMT


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _sender(tmp_path: Path, address: tuple[str, int], tag: str, count: int) -> str:
    """A separate program logging into ``address`` (and from a pool of its own); its pid."""
    return run_sender(tmp_path, address, tag, count, key=KEY)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_separate_process_logs_in_with_connect(
    mode: str, host: str, tmp_path: Path, log_path: Path
) -> None:
    """listen= serves local children on the private socket and a separate process (and its
    own pool) over TCP, IPv4 and IPv6; every record arrives, with its host name."""
    if host == "::1" and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    listener = mplog.setup_listener(
        log_path, fmt=NET_FMT, level="INFO", mode=mode, listen=f"[{host}]:0", key=KEY
    )
    assert isinstance(listener.address, str)  # local children: the Unix socket
    net_host, port = listener.network_address or ("", 0)
    assert net_host == host and port > 0
    _workers.log_seq("local", 3)
    pid = _sender(tmp_path, (host, port), "far", 20)
    stats = listener.stop()
    lines = log_path.read_text().splitlines()
    assert all(line.split("|", 1)[0] == HOSTNAME for line in lines)
    fields = read_lines_without_host(lines)
    pool_tags = {f"far-pool-{i}": 1 for i in range(3)}
    check_sequences(fields, {"local": 3, "far": 20, **pool_tags})
    assert stats["processes"][int(pid)]["host"] == HOSTNAME
    assert stats["network"]["rejected_auth"] == 0


def read_lines_without_host(lines: list[str]) -> list[dict[str, str]]:
    """The lines of a NET_FMT file, parsed as FMT lines."""
    return [parse_line(line.split("|", 1)[1]) for line in lines]


def test_a_wrong_key_is_refused_and_counted(log_path: Path) -> None:
    """mplog.connect with the wrong key fails at once; the listener counts it and logs why."""
    listener = mplog.setup_listener(log_path, fmt=FMT, level="INFO", listen="127.0.0.1:0", key=KEY)
    address = listener.network_address
    assert address is not None
    root = logging.getLogger()
    before = list(root.handlers)
    with pytest.raises(ConnectionRefusedError, match="check the address, the key"):
        mplog.connect(address, key="x" * 32)
    assert root.handlers == before
    stats = listener.stop()
    assert stats["network"]["rejected_auth"] == 1
    assert "cut off (rejected_auth)" in log_path.read_text()


def test_the_key_never_travels() -> None:
    """The hello answers the challenge with an HMAC; neither the key nor the answer of another
    challenge is on the wire."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    challenge = os.urandom(32)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(_protocol.frame(_protocol.KIND_CHALLENGE, challenge))
            reader = _frames.FrameReader()
            while not (frames := reader.feed(conn.recv(4096))):
                pass
            received.append(frames[0][1])
            conn.sendall(_protocol.frame(_protocol.KIND_WELCOME, b""))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sock = _connection.connect(server.getsockname(), "", "worker", key=KEY.encode())
    sock.close()
    thread.join(TIMEOUT)
    server.close()
    (hello_bytes,) = received
    assert KEY.encode() not in hello_bytes
    hello = _protocol.decode(hello_bytes)
    assert hello["auth"] == _protocol.answer(KEY.encode(), challenge)
    assert "token" not in hello and hello["host"] == HOSTNAME


def test_address_tcp_uses_the_handshake_too(log_path: Path) -> None:
    """address=(host, port) (every process over TCP) no longer sends its token in the clear:
    a hello carrying the token instead of the answer is refused."""
    listener = mplog.setup_listener(
        log_path, fmt=FMT, level="INFO", address=("127.0.0.1", 0), mode="thread"
    )
    token = listener.worker_config.token
    with socket.create_connection(listener.address) as sock:  # type: ignore[arg-type]
        sock.settimeout(TIMEOUT)
        hello = {"pid": os.getpid(), "name": "x", "role": "worker", "token": token}
        sock.sendall(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)))
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    kinds = [kind for kind, _ in _frames.FrameReader().feed(data)]
    assert kinds == [_protocol.KIND_CHALLENGE]  # and then it closed
    _workers.log_seq("ok", 2)
    stats = listener.stop()
    assert stats["network"]["rejected_auth"] == 1
    check_sequences(read_lines(log_path), {"ok": 2})


# -- settings: one check each, with the fix in the message ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9020", ("127.0.0.1", 9020)),
        ("[::1]:0", ("::1", 0)),
        ("logs.example:9020", ("logs.example", 9020)),
        (("0.0.0.0", 1), ("0.0.0.0", 1)),
    ],
)
def test_parse_address(text: Any, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9020", "host", "host:port", "host:70000"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="port"):
        parse_address(text)


def test_a_non_loopback_listen_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MPLOG_KEY", raising=False)
    with pytest.raises(ValueError, match="key=, key_env= or key_file=, or set MPLOG_KEY"):
        mplog.setup_listener(console=True, listen="0.0.0.0:0")
    assert Network.parse("127.0.0.1:0").key is None  # loopback: the token will do


def test_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """key=, key_env=, key_file= (owner-only) and MPLOG_KEY; one source at a time."""
    monkeypatch.setenv("MPLOG_KEY", "e" * 20)
    monkeypatch.setenv("OTHER", "o" * 20)
    assert load_key() == b"e" * 20
    assert load_key(key_env="OTHER") == b"o" * 20
    assert load_key(key=b"b" * 16) == b"b" * 16
    path = tmp_path / "key"
    path.write_text("f" * 40 + "\n")
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_key(key_file=path)
    path.chmod(0o600)
    assert load_key(key_file=path) == b"f" * 40
    with pytest.raises(ValueError, match="one source"):
        load_key(key="k" * 16, key_file=path)
    with pytest.raises(ValueError, match="too short"):
        load_key(key="short")
    with pytest.raises(ValueError, match="NOPE"):
        load_key(key_env="NOPE")


def test_without_tls_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], listen: Callable[..., mplog.Listener]
) -> None:
    """A non-loopback listen= without TLS says so, once."""
    listener = listen(listen="0.0.0.0:0", key=KEY)
    listener.stop()
    err = capsys.readouterr().err
    assert err.count("without TLS") == 1
    listener = listen(listen="127.0.0.1:0", key=KEY)
    listener.stop()
    assert "without TLS" not in capsys.readouterr().err


def test_key_without_listen_is_an_error() -> None:
    with pytest.raises(ValueError, match="add listen="):
        mplog.setup_listener(console=True, key=KEY)
    with pytest.raises(ValueError, match="use listen="):
        mplog.setup_listener(console=True, address=("127.0.0.1", 0), listen="127.0.0.1:0")


def test_a_record_over_the_frame_limit_goes_to_stderr_only(
    log_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A network sender never sends a frame the listener would cut it off for: a record over
    1 MiB goes to its stderr, and the records after it still arrive."""
    listener = mplog.setup_listener(log_path, fmt=FMT, level="INFO", listen="127.0.0.1:0", key=KEY)
    assert listener.network_address is not None
    mplog.connect(listener.network_address, key=KEY)
    log = logging.getLogger("big")
    log.info("seq net 0 0")
    log.info("huge %s", "x" * (1 << 21))
    log.info("seq net 1 1")
    stats = listener.stop()
    assert "huge xxx" in capfd.readouterr().err
    assert sum(stats["network"].values()) == 0
    check_sequences(read_lines(log_path), {"net": 2})


def test_json_lines_carry_the_hostname(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    with mplog.setup_listener(path, json=True, level="INFO"):
        logging.getLogger("j").info("hello")
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["hostname"] == HOSTNAME


def _authenticated(address: tuple[str, int]) -> socket.socket:
    """A raw connection that has proved the key (its hello answered, the welcome read)."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    frames = _frames.FrameReader()
    data = b""
    while not (got := frames.feed(data)):
        data = sock.recv(4096)
    hello = {"pid": 4242, "role": "worker", "auth": _protocol.answer(KEY.encode(), got[0][1])}
    sock.sendall(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)))
    while not frames.feed(sock.recv(4096)):  # the welcome
        pass
    return sock


def test_a_sender_stalled_in_the_middle_of_a_frame_is_cut_off(log_path: Path) -> None:
    """An authenticated sender that sends half a frame and stops is cut off after
    stall_timeout (network_limits=), counted and logged; one that is only quiet is not."""
    limits = mplog.NetworkLimits(stall_timeout=0.3)
    listener = mplog.setup_listener(
        log_path, fmt=FMT, listen="127.0.0.1:0", key=KEY, network_limits=limits
    )
    address = listener.network_address
    assert address is not None
    quiet, stalled = _authenticated(address), _authenticated(address)
    stalled.sendall(_protocol.frame(_protocol.KIND_RECORD, b"x" * 100)[:50])
    stalled.settimeout(TIMEOUT)
    assert stalled.recv(4096) == b""  # the listener closed it
    stats = listener.stop()
    assert stats["network"]["stalled"] == 1
    assert "cut off (stalled): nothing more of its frame for 0.3s" in log_path.read_text()
    for sock in (quiet, stalled):
        sock.close()


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"stall_timeout": 0}, r"stall_timeout=...\) must be a positive number of seconds"),
        ({"max_connections": 8}, r"max_unauthenticated=32\) is over max_connections=8"),
        ({"max_frame": 1 << 21}, r"max_frame=...\) can be at most 1048576"),
        ({"max_connections": "many"}, r"max_connections=...\) must be a positive whole"),
    ],
)
def test_network_limits_are_checked(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mplog.NetworkLimits(**limits)


def test_network_limits_need_listen() -> None:
    with pytest.raises(ValueError, match="network_limits= are for listen="):
        mplog.setup_listener(console=True, network_limits=mplog.NetworkLimits())
    with pytest.raises(TypeError, match=r"network_limits=mplog.NetworkLimits\("):
        mplog.setup_listener(console=True, listen="127.0.0.1:0", network_limits={"x": 1})  # type: ignore[arg-type]


def test_connect_returns_the_levels_it_set(log_path: Path) -> None:
    """The WorkerConfig connect() returns carries the levels it set: a child configured with
    it keeps INFO (it used to fall back to WARNING and drop INFO records)."""
    listener = mplog.setup_listener(log_path, fmt=NET_FMT, listen="127.0.0.1:0", key=KEY)
    try:
        logging.getLogger("app.db").setLevel(logging.DEBUG)
        config = mplog.connect(listener.network_address or ("", 0), key=KEY, level="INFO")
        assert config.root_level == logging.INFO
        assert ("app.db", logging.DEBUG) in config.levels
    finally:
        listener.stop()
