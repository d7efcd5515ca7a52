"""Network senders ship finished lines: the listener's welcome carries its line format or plan
(``mplog._listener.welcome``), ``mplog.connect`` senders format like local workers, and the
files are byte for byte the record path's (``MPLOG_RECORD_PATH=1``), over TCP and TLS; lines
survive connections cut mid-stream; an authenticated sender's malformed lines cut it off,
counted, while the others go on. Real listeners, sockets and sender processes."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _protocol
from mplog._lineplan import MORE
from mplog._outputs.plan import RECORD_PATH_ENV
from mplog._settings import NetworkLimits
from tests import test_reconnect
from tests._certs import Certs, make_certs, needs_openssl
from tests._helpers import (
    FMT,
    TIMEOUT,
    check_sequences,
    parse_line,
    read_lines,
    wait_for,
    wait_received,
)
from tests._proxy import Proxy
from tests.test_lines import PARTS, PER_PART, _contents, _handlers, _json
from tests.test_tls import _read_until_closed

KEY = "w" * 32
ROOT = Path(__file__).resolve().parent.parent

CORPUS_SENDER = """
import sys
import mplog
from tests import _corpus

port, tls, parts, per_part = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4])
config = mplog.connect(("127.0.0.1", int(port)), key="{key}", tls=tls, level=1)
print("lines" if config.line_format or config.plan else "records", flush=True)
for part in range(parts):
    assert _corpus.log_corpus(part, per_part) == per_part
"""


def _text(out: Path) -> dict[str, Any]:
    return {"filename": out / "app.log", "fmt": FMT, "level": 1}


CONFIGS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "text": _text,
    "json": _json,
    "handlers": _handlers,
}


def _corpus_run(out: Path, make: Callable[[Path], dict[str, Any]], **network: Any) -> str:
    """A listener writing ``make``'s destination, and one ``mplog.connect`` process logging
    the corpus into it; how that process shipped ("lines" or "records")."""
    out.mkdir()
    ca = network.pop("ca", None)
    listener = mplog.setup_listener(**make(out), listen="127.0.0.1:0", key=KEY, **network)
    try:
        address = listener.network_address
        assert address is not None
        script = out.parent / "corpus_sender.py"
        script.write_text(CORPUS_SENDER.replace("{key}", KEY))
        tls = "" if ca is None else str(ca)
        done = subprocess.run(  # noqa: PLW1510 (the status is checked below)
            [sys.executable, str(script), str(address[1]), tls, str(PARTS), str(PER_PART)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, done.stderr
    finally:
        stats = listener.stop()
    assert stats["received"] > 0
    return done.stdout.strip()


def _same_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, **network: Any) -> None:
    shipped = {}
    for path in ("records", "lines"):
        monkeypatch.setenv(RECORD_PATH_ENV, "1" if path == "records" else "0")
        shipped[path] = _corpus_run(tmp_path / path, CONFIGS[name], **network)
    assert shipped == {"records": "records", "lines": "lines"}
    expected, got = _contents(tmp_path / "records"), _contents(tmp_path / "lines")
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (file, want), (_, have) in zip(expected, got, strict=True):
        assert want, f"{name}: {file} is empty: the corpus must reach every handler"
        assert have == want, f"{name}: {file} differs from the record path's"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_connected_lines_are_byte_for_byte_the_record_paths(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _same_files(tmp_path, monkeypatch, name)


@needs_openssl
def test_connected_lines_over_tls_are_the_record_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs: Certs = make_certs(tmp_path / "certs")
    (tmp_path / "run").mkdir()
    tls = (certs.server_cert, certs.server_key)
    _same_files(tmp_path / "run", monkeypatch, "handlers", tls=tls, ca=certs.ca)


SEQ_SENDER = """
import logging, sys, time
import mplog

config = mplog.connect(("127.0.0.1", int(sys.argv[1])), key="{key}", level="INFO")
print("lines" if config.line_format or config.plan else "records", flush=True)
log = logging.getLogger("remote")
for i in range(int(sys.argv[2])):
    log.info("seq far %d %d", i, i)
    time.sleep(0.001)
print("logged", flush=True)
"""


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_lines_survive_connections_cut_mid_stream(json_lines: bool, tmp_path: Path) -> None:
    """A forwarder resets the connection three times while the sender ships lines (single
    format, or tagged for the JSON file): nothing is lost or written twice, in order."""
    log_path = tmp_path / ("app.jsonl" if json_lines else "app.log")
    options: dict[str, Any] = {"json": True} if json_lines else {"fmt": FMT}
    listener = mplog.setup_listener(
        log_path, level="INFO", listen="127.0.0.1:0", key=test_reconnect.KEY, **options
    )
    address = listener.network_address or ("", 0)
    sock, welcome = _authenticated(address, test_reconnect.KEY)
    sock.close()
    assert welcome, "the listener must ask network senders for lines"
    proxy = Proxy(address)
    try:
        with test_reconnect.sender(tmp_path, proxy.port, 2000, pause=0.001) as process:
            for cut in range(1, 4):
                wait_received(listener, 300 * cut)
                wait_for(proxy.connections, TIMEOUT, "a connection through the proxy")
                proxy.cut()
            test_reconnect.logged(process)
            wait_received(listener, 2000)
    finally:
        proxy.close()
    stats = listener.stop()
    if json_lines:
        lines = [json.loads(line) for line in log_path.read_text().splitlines()]
        fields = [{"message": r["message"], "process": str(r["process"])} for r in lines]
    else:
        fields = read_lines(log_path)
    check_sequences(fields, {"far": 2000})
    assert stats["written"] == 2000 and stats["reconnects"] >= 3


def _authenticated(address: tuple[str, int], key: str = KEY) -> tuple[socket.socket, bytes]:
    """A raw connection that proved ``key``; the welcome's body."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    header = _protocol.HEADER.size
    challenge = _receive(sock, header + 32)[header:]
    hello = {"pid": 4242, "role": "worker", "auth": _protocol.answer(key.encode(), challenge)}
    sock.sendall(_protocol.frame(_protocol.KIND_HELLO, _protocol.encode(hello)))
    length, kind = _protocol.HEADER.unpack(_receive(sock, header))
    assert kind == _protocol.KIND_WELCOME
    return sock, _receive(sock, length)


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the listener closed the connection"
        data += chunk
    return data


def _line(text: str) -> bytes:
    return _protocol.line_frame(logging.INFO, text)


def _tagged(tag: int, text: str) -> bytes:
    return _protocol.dest_line_frame(logging.INFO, tag, (text + "\n").encode())


#: Malformed lines an authenticated sender may send, per destination, and whether the
#: listener's welcome asks for single-format lines ("text") or tagged ones ("json").
HOSTILE: dict[str, tuple[str, bytes]] = {
    "handler index beyond the plan": ("json", _tagged(1, '{"m": "x"}')),
    "later line beyond the plan": ("json", _tagged(0, "{}") + _tagged(MORE | 7, "{}")),
    "tagged lines to a single format": ("text", _tagged(0, "tagged")),
    "untagged lines to a plan": ("json", _line('{"m": "untagged"}')),
    "line over the frame limit": ("text", _line("x" * 3000)),
    "frame shorter than its level": ("text", _protocol.frame(_protocol.KIND_LINE, b"\x00")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_key_holder_sending_malformed_lines_is_cut_off(case: str, tmp_path: Path) -> None:
    """Each malformed line frame (whole in one read, so only the listener's own checks stand
    in its way) cuts its sender off, counted as malformed or oversized, and nothing of it is
    written; a legitimate sender's lines before and after all arrive."""
    kind, frames = HOSTILE[case]
    log_path = tmp_path / ("app.jsonl" if kind == "json" else "app.log")
    options: dict[str, Any] = {"json": True} if kind == "json" else {"fmt": FMT}
    listener = mplog.setup_listener(
        log_path,
        level="INFO",
        listen="127.0.0.1:0",
        key=KEY,
        network_limits=NetworkLimits(max_frame=2048),
        **options,
    )
    address = listener.network_address
    assert address is not None
    legit, welcome = _authenticated(address)
    assert welcome, "the welcome must carry the line format or plan"
    first = _line("legit before") if kind == "text" else _tagged(0, '{"message": "legit 1"}')
    legit.sendall(first)
    hostile, _ = _authenticated(address)
    hostile.sendall(frames)
    hostile.settimeout(TIMEOUT)
    _read_until_closed(hostile)
    later = _line("legit after") if kind == "text" else _tagged(0, '{"message": "legit 2"}')
    legit.sendall(later + _protocol.frame(_protocol.KIND_BYE, b""))
    legit.close()
    hostile.close()
    wait_for(lambda: listener.stats()["received"] >= 2, TIMEOUT, "the legitimate lines")
    stats = listener.stop()
    network = stats["network"]
    assert network["malformed"] + network["oversized"] == 1, network
    text = log_path.read_text()
    assert ("legit before" in text or "legit 1" in text) and ("after" in text or "2" in text)
    written = [line for line in text.splitlines() if "cut off" not in line]
    assert len(written) == 2, written


def test_a_listener_without_plan_gets_records(tmp_path: Path) -> None:
    """An empty welcome (a listener whose handlers need records: here a filter; or an older
    listener): the sender ships records, and they arrive."""
    log_path = tmp_path / "app.log"
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter(FMT))
    handler.addFilter(lambda record: True)
    listener = mplog.setup_listener(handlers=[handler], listen="127.0.0.1:0", key=KEY)
    address = listener.network_address
    assert address is not None
    sock, welcome = _authenticated(address)
    sock.close()
    script = tmp_path / "seq_sender.py"
    script.write_text(SEQ_SENDER.replace("{key}", KEY))
    done = subprocess.run(  # noqa: PLW1510 (the status is checked below)
        [sys.executable, str(script), str(address[1]), "50"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    stats = listener.stop()
    assert done.returncode == 0, done.stderr
    assert (welcome, done.stdout.split()) == (b"", ["records", "logged"])
    check_sequences(read_lines(log_path), {"far": 50})
    assert stats["written"] == 50


def test_lines_spooled_for_a_listener_restarted_with_other_handlers(tmp_path: Path) -> None:
    """A listener writing text stops while a sender logs (its lines for the text file wait
    in the spool), and one writing JSON takes the port: the sender is not cut off for its
    old lines; they are written as records (their text the message), the rest as JSON lines,
    every record once, in order."""
    first = mplog.setup_listener(
        tmp_path / "first.log", fmt=FMT, level="INFO", listen="127.0.0.1:0", key=KEY
    )
    _, port = first.network_address or ("", 0)
    script = tmp_path / "seq_sender.py"
    script.write_text(SEQ_SENDER.replace("{key}", KEY))
    process = subprocess.Popen(
        [sys.executable, str(script), str(port), "1500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: first.stats()["received"] >= 200, TIMEOUT, "records")
        before = first.stop(timeout=0.3)
        second = mplog.setup_listener(
            tmp_path / "second.jsonl", json=True, level="INFO", listen=f"127.0.0.1:{port}", key=KEY
        )
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    after = second.stop()
    assert out.split() == ["lines", "logged"]
    assert after["network"]["malformed"] == 0
    records = [json.loads(line) for line in (tmp_path / "second.jsonl").read_text().splitlines()]
    resent = [r for r in records if r["logger"] == "mplog.resent"]
    assert resent, "the spooled text lines must reach the JSON file"
    assert all(parse_line(r["message"])["name"] == "remote" for r in resent)
    ours = [r for r in records if r["logger"] in ("remote", "mplog.resent")]
    fields = read_lines(tmp_path / "first.log") + [
        {
            "message": r["message"]
            if r["logger"] == "remote"
            else parse_line(r["message"])["message"],
            "process": str(r["process"]),
        }
        for r in ours
    ]
    check_sequences(fields, {"far": 1500})
    assert before["written"] + after["written"] == 1500
    warned = [r for r in records if "sent again lines formatted before" in r["message"]]
    assert len(warned) == 1


POOL_SENDER = """
import logging, multiprocessing, sys
import mplog


def task(n):
    logging.getLogger("remote.pool").info("seq t%d %d %d", n, n, 0)
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, mplog.ShippingHandler))
    return bool(handler.config.plan or handler.config.line_format)


if __name__ == "__main__":
    mplog.connect(("127.0.0.1", int(sys.argv[1])), key="{key}", level="INFO")
    with mplog.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(sys.argv[2])) as pool:
        print(sorted(set(pool.map(task, range(4)))), flush=True)
"""


def test_pool_workers_of_a_connected_process_ship_lines(start_method: str, tmp_path: Path) -> None:
    """The pools a connected process creates get the plan with their config (fork, spawn,
    forkserver): their workers format lines too, and every record arrives."""
    log_path = tmp_path / "app.jsonl"
    listener = mplog.setup_listener(log_path, json=True, listen="127.0.0.1:0", key=KEY)
    script = tmp_path / "pool_sender.py"
    script.write_text(POOL_SENDER.replace("{key}", KEY))
    done = subprocess.run(  # noqa: PLW1510 (the status is checked below)
        [sys.executable, str(script), str((listener.network_address or ("", 0))[1]), start_method],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    stats = listener.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[True]"
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert sorted(r["message"] for r in records) == [f"seq t{n} {n} 0" for n in range(4)]
    assert stats["written"] == 4
