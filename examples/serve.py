"""``mplog serve`` and three sender programs that log into it with ``mplog.connect``.

The server is started as its own program (``python -m mplog serve``, the same as the
``mplog serve`` console script), with the key in ``MPLOG_KEY``. Three senders log into it;
then the log is rotated the way logrotate does it (``mv app.log app.log.1``, then SIGHUP) and
they log again; SIGTERM then drains and stops the server, which prints its summary.
Run: ``python examples/serve.py [OUTPUT_DIR]``.
"""

import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time

import mplog


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def sender(address: str, name: str, phase: str) -> None:
    """A program of its own (it could run on another host): connect, log, leave."""
    mplog.connect(address, level="INFO")  # the key: MPLOG_KEY
    log = logging.getLogger(f"example.{name}")
    for number in range(3):
        log.info("%s record %d", phase, number)


def start_server(directory: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``mplog serve`` on a free port; return it and the address it listens on."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mplog", "serve", "--listen", "127.0.0.1:0", "--file", "app.log"],
        cwd=directory,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    first = server.stderr.readline()  # "mplog serve: listening on 127.0.0.1:PORT, ..."
    match = re.search(r"listening on (\S+),", first)
    if match is None:
        server.kill()
        raise SystemExit(f"mplog serve did not start: {first}")
    return server, match.group(1)


def run_senders(address: str, phase: str, env: dict[str, str]) -> None:
    senders = [
        subprocess.Popen([sys.executable, __file__, "--sender", address, name, phase], env=env)
        for name in ("web", "worker", "cron")
    ]
    for process in senders:
        if process.wait(timeout=120) != 0:
            raise SystemExit("a sender failed")


def main() -> None:
    directory = output_dir()
    env = {**os.environ, "MPLOG_KEY": secrets.token_hex(32)}
    server, address = start_server(directory, env)
    run_senders(address, "before-rotation", env)
    log = os.path.join(directory, "app.log")
    os.replace(log, log + ".1")  # what logrotate does, then it signals the server
    server.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while not os.path.exists(log) and time.monotonic() < deadline:
        time.sleep(0.02)  # the server reopens app.log
    run_senders(address, "after-rotation", env)
    server.send_signal(signal.SIGTERM)  # drains every sender, closes the file
    _, summary = server.communicate(timeout=60)
    print(summary.strip())
    for path in (log + ".1", log):
        with open(path, encoding="utf-8") as file:
            print(f"{os.path.basename(path)}: {len(file.readlines())} lines")
    sys.exit(server.returncode)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sender"]:
        sender(*sys.argv[2:5])
    else:
        main()
