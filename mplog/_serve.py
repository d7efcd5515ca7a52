"""``mplog serve``: a standalone listener that programs of this and other hosts log into.

Its one job: turn the command line into :func:`mplog.setup_listener` (a file, rotated or
not, plain or JSON lines, or a ``dictConfig`` file; ``listen=`` with a key, and TLS), then
wait for signals. SIGINT/SIGTERM drain every sender and close everything (exit 0); SIGHUP
reopens the files, for an external ``logrotate``. A status line on stderr when it is a
terminal, refreshed every second; a summary at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Collection
from types import FrameType
from typing import Any

from mplog._settings import KEY_ENV
from mplog._setup import setup_listener
from mplog._tls import Tls

#: The default line format: where each record came from (host, process), then the record.
SERVE_FORMAT = (
    "%(asctime)s %(hostname)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"
)
#: Seconds between two refreshes of the status line.
STATUS_INTERVAL = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of ``mplog serve``."""
    add = parser.add_argument
    add("--listen", default="127.0.0.1:9020", help="host:port, [::1]:port (default: %(default)s)")
    add("--file", help="the log file every record is appended to")
    add("--rotate", help="rotate the file at this size, e.g. 100MB")
    add("--keep", type=int, help="rotated files to keep")
    add("--compress", choices=("gzip", "bz2", "lzma"), help="compress rotated files")
    add("--json", action="store_true", help="write one JSON object per record")
    add("--config", help="a logging.dictConfig file (.toml or .json) instead of --file")
    add("--format", default=SERVE_FORMAT, help="the line format of --file (%%-style)")
    add("--key-file", help=f"the shared key senders must prove (default: ${KEY_ENV})")
    add("--tls-cert", help="the listener's TLS certificate (PEM)")
    add("--tls-key", help="its private key (PEM, chmod 600)")
    add("--tls-ca", help="require client certificates signed by this CA (mutual TLS)")
    add(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="at SIGINT/SIGTERM, seconds to take what senders sent before cutting them off "
        "(counted in the summary; default: %(default)s)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the listener until SIGINT or SIGTERM; exit status 2 for bad arguments."""
    try:
        listener = setup_listener(**_listener_options(args))
    except (ValueError, TypeError, OSError) as exc:
        args.parser.error(str(exc))  # exits with status 2
    signals = _Signals()
    host, port = listener.network_address or ("?", 0)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sys.stderr.write(f"mplog serve: listening on {where}, writing to {args.file or args.config}\n")
    sys.stderr.flush()
    status = _Status(listener) if sys.stderr.isatty() else None
    try:
        while not signals.stopping:
            signals.wake.wait(STATUS_INTERVAL)
            signals.wake.clear()
            if signals.reopen:
                signals.reopen = False
                listener.reopen()
            if status is not None:
                status.show()
    finally:
        stats = listener.stop()
        signals.restore()
    if status is not None:
        sys.stderr.write("\n")
    sys.stderr.write(summary(stats))
    return 0


def _listener_options(args: argparse.Namespace) -> dict[str, Any]:
    if (args.file is None) == (args.config is None):
        raise ValueError("give one destination: --file PATH or --config logging.toml")
    if args.key_file is None and KEY_ENV not in os.environ:
        raise ValueError(
            f"mplog serve needs the key senders prove they hold: --key-file F (chmod 600) or "
            f"the {KEY_ENV} environment variable"
        )
    if not args.drain_timeout > 0:
        raise ValueError(f"--drain-timeout must be positive, got {args.drain_timeout}")
    network = {
        "listen": args.listen,
        "key_file": args.key_file,
        "tls": _tls(args),
        "stop_timeout": args.drain_timeout,
    }
    file_options = {
        "json": args.json,
        "rotate": args.rotate,
        "keep": args.keep,
        "compress": args.compress,
    }
    if args.config is not None:  # file options given with it: setup_listener says why not
        given = {name: value for name, value in file_options.items() if value}
        return {"config": args.config, **network, **given}
    return {"filename": args.file, "fmt": args.format, **network, **file_options}


def _tls(args: argparse.Namespace) -> Tls | None:
    if args.tls_cert is None:
        if args.tls_key is not None or args.tls_ca is not None:
            raise ValueError(
                "--tls-key and --tls-ca go with --tls-cert (the listener's certificate)"
            )
        return None
    return Tls(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca)


class _Signals:
    """SIGINT/SIGTERM ask to stop, SIGHUP to reopen the files; either wakes ``wake``."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stopping = False
        self.reopen = False
        self._saved = {
            sig: signal.signal(sig, self._handle)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reopen = True
        else:
            self.stopping = True
        self.wake.set()

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


class _Status:
    """The status line: records/s, senders connected, backlog."""

    def __init__(self, listener: Any) -> None:
        self._listener = listener
        self._last = (time.monotonic(), 0)

    def show(self) -> None:
        stats = self._listener.stats()
        now, received = time.monotonic(), int(stats.get("received", 0))
        then, before = self._last
        self._last = (now, received)
        rate = (received - before) / max(now - then, 1e-6)
        senders = sum(
            1
            for key, process in stats.get("processes", {}).items()
            if process["state"] == "connected" and key != os.getpid()
        )
        line = (
            f"mplog serve: {rate:,.0f} records/s, {senders} senders connected, "
            f"backlog {stats.get('backlog_bytes', 0):,} bytes, {received:,} records"
        )
        sys.stderr.write(f"\r\x1b[K{line}")
        sys.stderr.flush()


def summary(stats: dict[str, Any]) -> str:
    """The lines printed at exit: what was received and written, and what was not."""
    if "error" in stats:
        return f"mplog serve: the listener failed: {stats['error']}\n"
    processes = stats.get("processes", {})
    hosts = {p["host"] for p in processes.values()}
    cut = {k: v for k, v in stats.get("network", {}).items() if v}
    return (
        f"mplog serve: stopped; {stats['received']} records from {_count(processes, 'process')} "
        f"on {_count(hosts, 'host')}, {stats['written']} written, {stats['dropped']} dropped by "
        f"senders, {stats['unread_records']} unread at stop, {stats['handler_errors']} "
        f"handler errors; connections cut off: {cut or 'none'}\n"
    )


def _count(items: Collection[object], noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{len(items)} {noun if len(items) == 1 else plural}"
