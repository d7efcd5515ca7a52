"""A network sender survives a listener restart: nothing is lost, nothing is written twice.

A separate program ``mplog.connect``s to a listener and logs 1,000 numbered records, a few
milliseconds apart. Meanwhile the listener is stopped (it drains and acknowledges what it
wrote), nobody listens for a moment, and a new listener takes the same port and key and
appends to the same file. The sender's logging calls never wait: records logged while nobody
listens stay in its spool and are sent, in order, when it reconnects. At the end this script
checks that the file holds every record exactly once, in order.
Run: ``python examples/network_outage.py [OUTPUT_DIR]``.
"""

import logging
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time

import mplog

COUNT = 1000
FORMAT = "%(hostname)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def sender(address: str) -> None:
    """A program that is not the listener's child: it logs through the outage."""
    mplog.connect(address, level="INFO")  # the key: MPLOG_KEY
    log = logging.getLogger("example.sender")
    for number in range(COUNT):
        log.info("record %d", number)
        time.sleep(0.003)


def listen(path: str, key: str, port: int = 0) -> mplog.Listener:
    return mplog.setup_listener(path, fmt=FORMAT, level="INFO", listen=f"127.0.0.1:{port}", key=key)


def main() -> None:
    path = os.path.join(output_dir(), "outage.log")
    key = secrets.token_hex(32)
    first = listen(path, key)
    host, port = first.network_address or ("", 0)
    program = subprocess.Popen(
        [sys.executable, __file__, "--sender", f"{host}:{port}"],
        env={**os.environ, "MPLOG_KEY": key},
    )
    time.sleep(1.0)
    written = first.stop(timeout=0.5)["written"]  # the sender is cut off, still logging
    time.sleep(0.5)  # nobody listens: the sender's records wait in its spool
    second = listen(path, key, port)  # same port, same key, same file
    program.wait(timeout=120)
    stats = second.stop()
    with open(path, encoding="utf-8") as file:
        lines = file.read().splitlines()
    numbers = [int(m[1]) for line in lines if (m := re.search(r"record (\d+)$", line))]
    assert numbers == list(range(COUNT)), "a record was lost, repeated or reordered"
    print(
        f"wrote {path} ({len(lines)} lines): all {COUNT} records once, in order "
        f"({written} written before the restart, {stats['written']} after)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sender"]:
        sender(sys.argv[2])
    else:
        main()
