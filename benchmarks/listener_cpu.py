"""CPU time per record in the listener, and in the process that logs, for each destination,
on the line path and on the record path (``MPLOG_RECORD_PATH=1``), side by side.

The end-to-end suite measures throughput; this isolates where the work is. The worker side
is what ``ShippingHandler`` does with a record before it writes to its stream (stamp the
pool fields, encode for the wire or format the lines), against a plain ``FileHandler`` with
the same formatter handling the record into a file of its own; it includes the bytes its
``Stream`` makes of them for a pipe (plain lines, frames after a NUL), not the write. The
listener side is the real listener loop (``ListenerLoop``) fed what those workers would write
into their pipes, in 256 KiB reads, through to the files. Times are CPU time
(``time.process_time``), medians of ``--reps``::

    python -m benchmarks.listener_cpu [--records 20000] [--reps 5] [--only custom,filtered]

The ``custom`` and ``filtered`` destinations are handlers the workers cannot reproduce (a
``FileHandler`` subclass with its own ``emit``; a ``FileHandler`` with a filter function):
they take the record path on both rows; ``mixed`` is a plain file (lines) beside the custom
handler (records); ``discard``, a handler that does nothing, leaves the listener's own work
per record (its FileHandler column is the text format's). ``--profile NAME`` prints where
the listener's time goes for destination ``NAME`` on the record path (cProfile, the top
functions by own time).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mplog
from benchmarks.variants.destinations import record_path
from benchmarks.workload import FORMAT, LOGGER_NAME, MESSAGE, payload
from mplog import _protocol
from mplog._listener.loop import ListenerLoop
from mplog._listener.peers import Peer
from mplog._outputs.destinations import ConfigDestination, FileDestination, HandlersDestination
from mplog._outputs.router import Router
from mplog._worker.connection import Stream
from mplog._worker.context import stamp
from mplog._worker.lines import PlanLines

Make = Callable[[Path], Router]
_READ = 1 << 18


def _json(out: Path) -> Router:
    return FileDestination(str(out / "bench.log"), json=True).build()


def _handlers(out: Path) -> Router:
    main = logging.FileHandler(out / "bench.log", encoding="utf-8")
    main.setFormatter(logging.Formatter(FORMAT))
    warnings = logging.FileHandler(out / "warnings.log", encoding="utf-8")
    warnings.setLevel(logging.WARNING)
    warnings.setFormatter(logging.Formatter("{asctime} {levelname} {message}", style="{"))
    return HandlersDestination([main, warnings]).build()


def _dictconfig(out: Path) -> Router:
    def file(name: str, level: str = "NOTSET") -> dict[str, Any]:
        path = str(out / name)
        return {"class": "logging.FileHandler", "filename": path, "formatter": "f", "level": level}

    config = {
        "version": 1,
        "formatters": {"f": {"format": FORMAT}},
        "handlers": {"bench": file("bench.log"), "warn": file("warn.log", "WARNING")},
        "loggers": {"bench": {"handlers": ["bench"]}},
        "root": {"handlers": ["warn"]},
    }
    return ConfigDestination(config).build()


class CustomFileHandler(logging.FileHandler):
    """A handler the workers cannot reproduce (a subclass with its own ``emit``): it keeps
    the record path, whatever the plan."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


def _custom(out: Path) -> Router:
    handler = CustomFileHandler(out / "bench.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    return HandlersDestination([handler]).build()


def _mixed(out: Path) -> Router:
    """A plain file the workers write lines for, beside the custom handler: each record
    comes as a line for the one and a record frame for the other."""
    plain = logging.FileHandler(out / "plain.log", encoding="utf-8")
    plain.setFormatter(logging.Formatter(FORMAT))
    custom = CustomFileHandler(out / "bench.log", encoding="utf-8")
    custom.setFormatter(logging.Formatter(FORMAT))
    return HandlersDestination([plain, custom]).build()


class DiscardHandler(logging.Handler):
    """Takes every record and does nothing with it: what is left is the listener's own work
    per record on the record path (read, split, decode, rebuild, count, route)."""

    def handle(self, record: logging.LogRecord) -> bool:
        return True


def _discard(out: Path) -> Router:
    return HandlersDestination([DiscardHandler()]).build()


def _not_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


def _filtered(out: Path) -> Router:
    handler = logging.FileHandler(out / "bench.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_not_debug)  # a filter function: the workers cannot run it
    return HandlersDestination([handler]).build()


def _rotating(out: Path) -> Router:
    handler = mplog.RotatingHandler(out / "bench.log", max_bytes="10 MB")
    handler.setFormatter(logging.Formatter(FORMAT))
    return HandlersDestination([handler]).build()


DESTINATIONS: dict[str, tuple[Make, logging.Formatter]] = {
    "json": (_json, mplog.JsonFormatter()),
    "handlers": (_handlers, logging.Formatter(FORMAT)),
    "dictconfig": (_dictconfig, logging.Formatter(FORMAT)),
    "rotating": (_rotating, logging.Formatter(FORMAT)),
    "custom": (_custom, logging.Formatter(FORMAT)),
    "filtered": (_filtered, logging.Formatter(FORMAT)),
    "mixed": (_mixed, logging.Formatter(FORMAT)),
    "discard": (_discard, logging.Formatter(FORMAT)),
}


def _records(count: int, levels: tuple[int, ...] = (logging.INFO,)) -> list[logging.LogRecord]:
    text = payload(1)
    log = logging.getLogger(LOGGER_NAME)
    args = [(1, step, step / 8, text) for step in range(count)]
    # As a logging call makes them: with the calling function's name (not None).
    return [
        log.makeRecord(LOGGER_NAME, level, __file__, 1, MESSAGE, a, None, "_records")
        for a, level in zip(args, itertools.cycle(levels))
    ]


def _cpu(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


class _PipeBytes(Stream):
    """A process's ``Stream`` on a pipe, keeping what it would write (``written``)."""

    def __init__(self) -> None:
        super().__init__(None, -1, None)  # type: ignore[arg-type]  # no socket: never closed
        self.written: list[bytes] = []

    def _put(self, data: bytes, *, wait: bool) -> bool:
        self.written.append(data)
        return True


def measure(
    name: str, records: bool, count: int, levels: tuple[int, ...] = (logging.INFO,)
) -> tuple[float, float]:
    """(worker µs/record, listener µs/record) for destination ``name``, the records' levels
    taken in turn from ``levels``."""
    make, _ = DESTINATIONS[name]
    with tempfile.TemporaryDirectory(prefix="mplog-cpu-") as tmp, record_path(records):
        router = make(Path(tmp))
        plan = None if router.plan is None else PlanLines(router.plan)
        batch = _records(count, levels)
        stream = _PipeBytes()

        def worker() -> None:
            for record in batch:
                if plan is None:
                    stamp(record)
                    body = _protocol.record_body(record)
                    stream.send(_protocol.frame(_protocol.KIND_RECORD, body))
                else:
                    shipment = plan.ship(record)
                    if shipment is not None:
                        stream.send_shipment(shipment)

        worker_s = _cpu(worker)
        data = b"".join(stream.written)
        listener_s = _cpu(lambda: _listen(router, data))
    return worker_s / count * 1e6, listener_s / count * 1e6


def profile(name: str, count: int, top: int = 25) -> str:
    """cProfile of the listener taking ``count`` records of destination ``name`` on the
    record path: the ``top`` functions by own time."""
    import cProfile
    import io
    import pstats

    make, _ = DESTINATIONS[name]
    with tempfile.TemporaryDirectory(prefix="mplog-cpu-") as tmp, record_path(True):
        router = make(Path(tmp))
        frames = []
        for record in _records(count):
            stamp(record)
            frames.append(_protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record)))
        data = b"".join(_protocol.nul_framed(frame) for frame in frames)
        profiler = cProfile.Profile()
        profiler.runcall(_listen, router, data)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _listen(router: Router, data: bytes) -> None:
    """Feed ``data`` to a real listener loop as one process's pipe: written into a socket
    256 KiB at a time, each read and handled by the loop's own ``read``."""
    mine, theirs = socket.socketpair()
    with mine, theirs:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * _READ)  # a whole read fits
        mine.setblocking(False)
        loop = ListenerLoop(None, "token", router)
        peer = Peer(mine)
        peer.pid, peer.name = os.getpid(), "bench"
        peer.reader.plain = True  # as after the process passed its pipe
        loop.peers[mine] = peer
        for start in range(0, len(data), _READ):
            theirs.sendall(data[start : start + _READ])
            while _pending(mine):  # the rest of a chunk, if one read did not take it all
                loop.read(peer)
        assert mine in loop.peers, "the listener cut the benchmark's stream off"
        router.close()


def _pending(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


def file_handler_cpu(name: str, count: int) -> float:
    """µs/record of a plain FileHandler with the destination's formatter, in its own file."""
    _, formatter = DESTINATIONS[name]
    batch = _records(count)
    for record in batch:  # the same fields as mplog's records (JSON writes them all)
        stamp(record)
    with tempfile.TemporaryDirectory(prefix="mplog-cpu-") as tmp:
        handler = logging.FileHandler(Path(tmp) / "own.log", encoding="utf-8")
        handler.setFormatter(formatter)
        seconds = _cpu(lambda: [handler.handle(record) for record in batch])
        handler.close()
    return seconds / count * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print the table (medians of ``--reps``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.listener_cpu")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated destinations (default: all)")
    parser.add_argument("--profile", metavar="NAME", help="profile NAME's record path instead")
    parser.add_argument(
        "--levels",
        default="INFO",
        help="the records' levels, in turn (INFO,INFO,INFO,WARNING: a WARNING reaches both "
        "files of handlers and dictconfig)",
    )
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.records))
        return
    names = args.only.split(",") if args.only else list(DESTINATIONS)
    levels = tuple(int(logging.getLevelName(name)) for name in args.levels.split(","))
    print("| destination | path | worker µs/record | FileHandler µs/record | listener µs/record |")
    print("|---|---|---|---|---|")
    for name in names:
        own = statistics.median(file_handler_cpu(name, args.records) for _ in range(args.reps))
        for records in (False, True):
            runs = [measure(name, records, args.records, levels) for _ in range(args.reps)]
            worker = statistics.median(w for w, _ in runs)
            listener = statistics.median(li for _, li in runs)
            path = "record path" if records else "lines"
            print(f"| {name} | {path} | {worker:.2f} | {own:.2f} | {listener:.2f} |")


if __name__ == "__main__":
    main()
