"""``mplog serve`` as a real subprocess, with independent sender processes (mplog.connect):
records from several senders, SIGHUP after an external ``mv`` (logrotate's way), SIGTERM's
drain, TLS, the status line on a terminal, and bad arguments (exit status 2)."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._certs import make_certs, needs_openssl
from tests._helpers import FMT, TIMEOUT, check_sequences, read_lines, wait_for

KEY = "s" * 32
_LISTENING = re.compile(r"listening on (\S+):(\d+),")
#: Every program a test starts here: killed after the test if still running (a failing test
#: must not leave a listener or a sender behind).
_STARTED: list[subprocess.Popen[Any]] = []


@pytest.fixture(autouse=True)
def _kill_leftovers() -> Iterator[None]:
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=TIMEOUT)


SENDER = """
import logging, os, sys, time
import mplog

tag, count, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tls = sys.argv[4] if len(sys.argv) > 4 else None
mplog.connect(("127.0.0.1", int(os.environ["PORT"])), key_env="SERVE_KEY", tls=tls, level="INFO")
log = logging.getLogger("sender")
for i in range(count):
    log.info("seq %s %d %d", tag, i, i)
print("phase1", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.02)
for i in range(count, 2 * count):
    log.info("seq %s %d %d", tag, i, i)
"""


class Serve:
    """A running ``python -m mplog serve`` and its port."""

    def __init__(self, tmp_path: Path, *extra: str, stderr: int | None = None) -> None:
        command = [sys.executable, "-m", "mplog", "serve", "--listen", "127.0.0.1:0"]
        command += ["--file", str(tmp_path / "app.log"), "--format", FMT, *extra]
        env = {**os.environ, "MPLOG_KEY": KEY}
        self.process = subprocess.Popen(
            command, stderr=stderr or subprocess.PIPE, text=True, cwd=tmp_path, env=env
        )
        _STARTED.append(self.process)
        self.port = 0
        if stderr is None:
            assert self.process.stderr is not None
            line = _readline_within(self.process.stderr.fileno(), TIMEOUT)
            match = _LISTENING.search(line)
            assert match, line
            self.port = int(match.group(2))

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Send ``sig``; return what it wrote on stderr after the first line (exit 0 checked)."""
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=TIMEOUT)
        assert self.process.returncode == 0, err
        return str(err)


def _readline_within(fd: int, timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no line within {timeout}s: {data!r}"
        chunk = os.read(fd, 1)
        assert chunk, f"ended: {data!r}"
        data += chunk
    return data.decode()


def _senders(tmp_path: Path, port: int, tags: list[str], count: int, *tls: str) -> list[Any]:
    script = tmp_path / "sender.py"
    script.write_text(textwrap.dedent(SENDER))
    env = {**os.environ, "SERVE_KEY": KEY, "PORT": str(port)}
    go = str(tmp_path / "go")
    senders = [
        subprocess.Popen(
            [sys.executable, str(script), tag, str(count), go, *tls],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in tags
    ]
    _STARTED.extend(senders)
    return senders


def _phase1_done(senders: list[Any]) -> None:
    for sender in senders:
        assert _readline_within(sender.stdout.fileno(), TIMEOUT) == "phase1\n"


def _finish(senders: list[Any]) -> None:
    for sender in senders:
        _, err = sender.communicate(timeout=TIMEOUT)
        assert sender.returncode == 0, err


def test_sighup_after_mv_reopens_the_file(tmp_path: Path) -> None:
    """Three senders; ``mv app.log app.log.1`` then SIGHUP: what comes after goes to a new
    app.log, nothing is lost or doubled, order per sender holds across the two files."""
    serve = Serve(tmp_path)
    senders = _senders(tmp_path, serve.port, ["a", "b", "c"], 300)
    _phase1_done(senders)
    log = tmp_path / "app.log"
    log.rename(tmp_path / "app.log.1")
    serve.process.send_signal(signal.SIGHUP)
    wait_for(log.exists, TIMEOUT, "serve to reopen app.log")
    (tmp_path / "go").touch()
    _finish(senders)
    err = serve.stop()
    old, new = read_lines(tmp_path / "app.log.1"), read_lines(log)
    seqs = [f for f in old + new if f["message"].startswith("seq")]
    check_sequences(seqs, {"a": 600, "b": 600, "c": 600})
    late = [
        f for f in new if f["message"].startswith("seq") and int(f["message"].split()[2]) >= 300
    ]
    assert len(late) == 900  # every record logged after the reopen is in the new file
    match = re.search(r"stopped; (\d+) records from \d+ processes", err)
    assert match and int(match.group(1)) >= 1800, err


@pytest.mark.parametrize("tls", [False, pytest.param(True, marks=needs_openssl)])
def test_sigterm_drains_every_sender(tls: bool, tmp_path: Path) -> None:
    """SIGTERM while senders are connected: everything they logged is written, exit 0, and
    the summary counts it."""
    extra: list[str] = []
    sender_tls: list[str] = []
    if tls:
        certs = make_certs(tmp_path / "certs")
        extra = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
        sender_tls = [str(certs.ca)]
    serve = Serve(tmp_path, *extra)
    senders = _senders(tmp_path, serve.port, ["x", "y", "z", "w"], 2000, *sender_tls)
    _phase1_done(senders)  # logged and still connected: it waits for "go"
    err = serve.stop()
    (tmp_path / "go").touch()
    for sender in senders:
        sender.communicate(timeout=TIMEOUT)  # their phase 2 goes to stderr: no listener
    seqs = [f for f in read_lines(tmp_path / "app.log") if f["message"].startswith("seq")]
    check_sequences(seqs, {tag: 2000 for tag in "xyzw"})
    match = re.search(r"stopped; (\d+) records from \d+ processes", err)
    assert match and int(match.group(1)) >= 8000, err
    assert "0 unread at stop" in err


def test_status_line_on_a_terminal(tmp_path: Path) -> None:
    """With stderr a terminal, a status line is refreshed every second."""
    master, slave = pty.openpty()
    try:
        serve = Serve(tmp_path, stderr=slave)
        seen = ""
        deadline = time.monotonic() + TIMEOUT
        while "senders connected" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096).decode(errors="replace")
        serve.process.send_signal(signal.SIGINT)
        serve.process.wait(TIMEOUT)
        assert serve.process.returncode == 0
        assert "records/s, 0 senders connected, backlog 0 bytes" in seen
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one destination"),
        (["--file", "a.log", "--config", "c.toml"], "give one destination"),
        (["--file", "a.log", "--listen", "nowhere"], "needs a port"),
        (["--file", "a.log", "--tls-cert", "missing.pem", "--tls-key", "k"], "does not exist"),
        (["--file", "a.log", "--keep", "3"], "only take effect when the file rotates"),
        (["--file", "a.log", "--compress", "zip"], "invalid choice"),
        (["--file", "a.log", "--drain-timeout", "0"], "--drain-timeout must be positive"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mplog", "serve", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env={**os.environ, "MPLOG_KEY": KEY},
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_a_key_is_required(tmp_path: Path) -> None:
    """Even on a loopback address: senders are other programs, they need the key."""
    env = {k: v for k, v in os.environ.items() if k != "MPLOG_KEY"}
    script = Path(sys.executable).with_name("mplog")  # the console script
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mplog"]
    result = subprocess.run(
        [*command, "serve", "--file", "a.log"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "--key-file F (chmod 600) or the MPLOG_KEY environment variable" in result.stderr
