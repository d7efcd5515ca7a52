"""CPU a sender spends per logging call, over the local pipe and over TCP (``mplog.connect``).

The network sender keeps every record in its spool until the listener acknowledges it
(``mplog/_worker/reconnect.py``); this measures what that costs the logging call, with
``time.thread_time`` (the calling thread's CPU only, so the listener, a process of its own,
and the sender's connection thread are not counted). To compare with another version of
mplog, run it with that version first on ``PYTHONPATH``::

    python -m benchmarks.spool_cost                       # this tree
    PYTHONPATH=/path/to/old/checkout python benchmarks/spool_cost.py

Prints the median over 9 batches of 20,000 calls, for "local" and "tcp".
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time

import mplog

CALLS = 20_000
BATCHES = 9
KEY = "k" * 32


def cost(kind: str) -> float:
    """Median µs of the calling thread's CPU per ``log.info`` call."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "bench.log")
        listener = mplog.setup_listener(
            path, mode="process", level="INFO", listen="127.0.0.1:0", key=KEY
        )
        with listener:
            if kind == "tcp":
                mplog.connect(listener.network_address or ("", 0), key=KEY, level="INFO")
            log = logging.getLogger("bench")
            batches = []
            for _ in range(BATCHES):
                started = time.thread_time()
                for i in range(CALLS):
                    log.info("record %d of the bench", i)
                batches.append((time.thread_time() - started) / CALLS * 1e6)
                time.sleep(0.05)
            logging.getLogger().handlers[0].close()  # say goodbye before the listener stops
    return statistics.median(batches)


def main() -> None:
    for kind in ("local", "tcp"):
        print(f"{kind}: {cost(kind):.2f} µs of sender CPU per logging call ({mplog.__file__})")


if __name__ == "__main__":
    main()
