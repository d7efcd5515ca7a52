"""Logging over the network: a listener with ``listen=`` and a separate program that
``mplog.connect``s to it, with a pool of its own.

The listener writes ``network.log`` with ``%(hostname)s`` in its format; the sender is
started as a separate Python process (it is not the listener's child: it could run on
another machine) and proves it holds the shared key, which it reads from ``MPLOG_KEY``.
Run: ``python examples/network.py [OUTPUT_DIR]``.
"""

import logging
import os
import secrets
import subprocess
import sys
import tempfile

import mplog

FORMAT = "%(hostname)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def square(number: int) -> int:
    """A task of the sender's pool: its records go to the same listener."""
    logging.getLogger("example.sender.task").info("squaring %d", number)
    return number * number


def sender(address: str) -> None:
    """A program that is not the listener's child: it connects, logs, runs a pool."""
    mplog.connect(address, level="INFO")  # the key: MPLOG_KEY
    log = logging.getLogger("example.sender")
    log.info("connected to %s", address)
    with mplog.ProcessPoolExecutor(2) as pool:
        log.info("squares: %s", list(pool.map(square, range(4))))


def main() -> None:
    path = os.path.join(output_dir(), "network.log")
    key = secrets.token_hex(32)
    with mplog.setup_listener(
        path, fmt=FORMAT, level="INFO", listen="127.0.0.1:0", key=key
    ) as listener:
        host, port = listener.network_address or ("", 0)
        logging.getLogger("example.listener").info("listening on %s:%d", host, port)
        subprocess.run(
            [sys.executable, __file__, "--sender", f"{host}:{port}"],
            env={**os.environ, "MPLOG_KEY": key},
            check=True,
            timeout=120,
        )
        stats = listener.stats()
        logging.getLogger("example.listener").info(
            "network connections cut off: %d", sum(stats["network"].values())
        )
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sender"]:
        sender(sys.argv[2])
    else:
        main()
