"""How many TCP segments network senders cost, with their sockets corked and without.

N forked processes ``mplog.connect`` to a listener process (``listen=``) and log R records
each; the count is ``OutSegs`` of ``/proc/net/snmp`` before and after (every TCP segment the
machine sent meanwhile: the senders' records, the listener's acknowledgements, the kernel's
own ACKs; run it on an otherwise quiet machine). "not corked" turns off
``mplog/_worker/cork.py`` in the senders (``TCP_NODELAY`` alone: what senders did before)::

    python -m benchmarks.segments [--senders 4] [--records 40000]

Linux only (``TCP_CORK``, ``/proc/net/snmp``). Every run is checked lossless.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile

import mplog
from mplog._worker import cork, reconnect

KEY = "s" * 32


def out_segments() -> int:
    """TCP segments this machine has sent so far (``/proc/net/snmp``)."""
    with open("/proc/net/snmp") as snmp:
        names, values = (line.split() for line in snmp if line.startswith("Tcp:"))
    return int(values[names.index("OutSegs")])


def _sender(address: tuple[str, int], corked: bool, records: int) -> None:
    cork.AVAILABLE = reconnect.CORK_AVAILABLE = corked
    mplog.connect(address, key=KEY, level="INFO")
    log = logging.getLogger("bench")
    for step in range(records):
        log.info("record %d of the segment count", step)
    logging.getLogger().handlers[0].close()  # say goodbye: every record acknowledged


def run(corked: bool, senders: int, records: int) -> int:
    """The segments sent while ``senders`` forked processes log ``records`` records each."""
    path = os.path.join(tempfile.mkdtemp(prefix="mplog-segments-"), "bench.log")
    listener = mplog.setup_listener(path, mode="process", listen="127.0.0.1:0", key=KEY)
    with listener:
        address = listener.network_address
        assert address is not None
        before, children = out_segments(), []
        for _ in range(senders):
            pid = os.fork()
            if pid == 0:
                try:
                    _sender(address, corked, records)
                finally:
                    os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        sent = out_segments() - before
    with open(path, "rb") as written:
        lines = sum(1 for _ in written)
    if lines != senders * records:
        raise RuntimeError(f"{senders * records - lines} records lost (corked: {corked})")
    return sent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.segments")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--records", type=int, default=40_000)
    args = parser.parse_args(argv)
    total = args.senders * args.records
    for corked in (False, True):
        sent = run(corked, args.senders, args.records)
        kind = "corked" if corked else "not corked (TCP_NODELAY alone)"
        print(f"{kind}: {sent:,} TCP segments for {total:,} records")


if __name__ == "__main__":
    main()
