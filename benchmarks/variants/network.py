"""Over the network: N sender processes on this machine ship over TCP into a listener
program, with and without TLS, against the standard library's answer.

- ``serve-tcp`` / ``serve-tls``: ``python -m mplog serve`` started as its own program; every
  worker calls ``mplog.connect`` (the senders are not the server's children).
- ``socket-cookbook``: ``logging.handlers.SocketHandler`` in every worker, and the logging
  cookbook's network receiver (``socketserver.ThreadingTCPServer``, a thread per
  connection, ``pickle.loads`` of every record) as its own program; with exact reads, as
  the recipe's ``recv(4)`` loses records (see :class:`LogRecordStreamHandler`).

The listener's CPU time is measured too (``Outcome.listener_cpu_s``): the ``RUSAGE_CHILDREN``
difference across its stop, taken after the pool's workers were reaped, so it holds the
listener program only. A listener program is a service that starts and stops once: its
start (interpreter and imports until it says it listens: about 100 ms wall, 70 ms CPU here,
9% of a run of 160,000 records) is left out of the run's time and CPU
(``Outcome.service_s``), as a local listener's start is not (it is part of each program);
so is the stop of ``mplog serve`` (20 ms, nearly all interpreter teardown), whose senders
wait at exit until the listener acknowledges their records as written, so that nothing is
left to do when the pool has ended. The cookbook's receiver is timed to the end of its stop,
which reads what its connections still hold.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import pickle
import re
import signal
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import psutil

from benchmarks.harness import Job, Outcome, Variant, children_cpu, run_tasks
from benchmarks.workload import FORMAT, TaskStats, formatted, install_root_handler

KEY = "b" * 32
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


@cache
def certificate() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (made once per run with openssl):
    the listener's, and the CA its senders trust."""
    directory = Path(tempfile.mkdtemp(prefix="mplog-bench-tls-"))
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=bench",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return str(cert), str(key)


class Started:
    """A listener program that says it listens, with what its start took."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        began = time.perf_counter()
        self.program, self.port = _start(command, env)
        self.seconds = time.perf_counter() - began
        self.cpu_s = _cpu_seconds(self.program.pid)

    def outcome(self, tasks: list[TaskStats], job: Job, *, acknowledged: bool) -> Outcome:
        """Stop the program; the run's outcome without the program's start, and without
        its stop when its senders waited for ``acknowledged`` records (mplog's network
        senders do, at exit: every record was written before the pool ended, and the stop
        is the program's own exit, 20 ms of interpreter teardown here)."""
        serving = _cpu_seconds(self.program.pid) - self.cpu_s
        began = time.perf_counter()
        cpu = _stop(self.program)
        stop_s, stop_cpu_s = time.perf_counter() - began, cpu - serving - self.cpu_s
        if not acknowledged:  # the stop drains what the program has not written yet
            serving, stop_s, stop_cpu_s = serving + stop_cpu_s, 0.0, 0.0
        return Outcome(
            tasks,
            [job.log_path],
            listener_cpu_s=serving,
            service_s=self.seconds + stop_s,
            service_cpu_s=self.cpu_s + stop_cpu_s,
        )


def _cpu_seconds(pid: int) -> float:
    """CPU seconds the threads of process ``pid`` used so far: the scheduler's nanoseconds
    where Linux gives them (``/proc/<pid>/stat`` counts 10 ms ticks, too coarse to subtract
    from the CPU of a short run), else psutil's."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
    except OSError:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    return total / 1e9


def _start(command: list[str], env: dict[str, str] | None = None) -> tuple[Any, int]:
    """Start a listener program; return it and the port it says it listens on."""
    program = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).parents[2]
    )
    assert program.stderr is not None
    line = program.stderr.readline()
    match = _LISTENING.search(line)
    if match is None:
        program.kill()
        raise RuntimeError(f"the listener did not start: {line!r}")
    return program, int(match.group(2))


def _stop(program: Any) -> float:
    """SIGTERM (drain, close), wait; the CPU seconds it used."""
    before = children_cpu()
    program.send_signal(signal.SIGTERM)
    _, err = program.communicate(timeout=120)
    if program.returncode != 0:
        raise RuntimeError(f"the listener exited with {program.returncode}: {err[-300:]}")
    return children_cpu() - before


def connect_worker(port: int, ca: str | None) -> None:
    """Worker setup of the serve variants: log into the server like any other program."""
    import mplog

    mplog.connect(("127.0.0.1", port), key=KEY, tls=ca, level="INFO")


def _serve(job: Job, tls: bool) -> Outcome:
    command = [sys.executable, "-m", "mplog", "serve", "--listen", "127.0.0.1:0"]
    command += ["--file", str(job.log_path), "--format", FORMAT]
    ca = None
    if tls:
        ca, key = certificate()
        command += ["--tls-cert", ca, "--tls-key", key]
    server = Started(command, {**os.environ, "MPLOG_KEY": KEY})
    try:
        tasks = run_tasks(job, setup=connect_worker, setup_args=(server.port, ca))
    except BaseException:
        _stop(server.program)
        raise
    return server.outcome(tasks, job, acknowledged=True)


def serve_tcp(job: Job) -> Outcome:
    """mplog serve, senders over TCP with mplog.connect."""
    return _serve(job, tls=False)


def serve_tls(job: Job) -> Outcome:
    """mplog serve with TLS, senders over TLS with mplog.connect."""
    return _serve(job, tls=True)


def socket_worker(port: int) -> None:
    """Worker setup of the cookbook: a SocketHandler (pickles every record) on the root."""
    install_root_handler(logging.handlers.SocketHandler("127.0.0.1", port))


def socket_cookbook(job: Job) -> Outcome:
    """SocketHandler in workers, the cookbook's network receiver as its own program."""
    program = (
        "import sys; from benchmarks.variants.network import receiver_main as m; m(sys.argv[1])"
    )
    command = [sys.executable, "-c", program, str(job.log_path)]
    receiver = Started(command)
    try:
        tasks = run_tasks(job, setup=socket_worker, setup_args=(receiver.port,))
    except BaseException:
        _stop(receiver.program)
        raise
    return receiver.outcome(tasks, job, acknowledged=False)


class LogRecordStreamHandler(socketserver.StreamRequestHandler):
    """The logging cookbook's handler: length-prefixed pickles, unpickled and handled.

    One fix: the recipe reads the length with ``connection.recv(4)`` and drops the connection
    when that returns fewer bytes, which TCP may do at any segment boundary; the senders'
    SocketHandlers then drop records silently while they reconnect (measured here: 96 and
    2,689 of 160,000 lost in 2 of 3 runs). Exact reads (``rfile.read``) lose none.
    """

    def handle(self) -> None:
        while len(header := self.rfile.read(4)) == 4:
            (length,) = struct.unpack(">L", header)
            data = self.rfile.read(length)
            record = logging.makeLogRecord(pickle.loads(data))  # unpickles the network
            logging.getLogger(record.name).handle(record)


class LogRecordSocketReceiver(socketserver.ThreadingTCPServer):
    """The cookbook's receiver; threads are joined at close, so every connection is drained."""

    allow_reuse_address = True
    daemon_threads = False


def receiver_main(path: str) -> None:
    """The receiver program: write every record to ``path`` until SIGTERM."""
    install_root_handler(formatted(logging.FileHandler(path, "a", encoding="utf-8")))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads inherit the mask
    server = LogRecordSocketReceiver(("127.0.0.1", 0), LogRecordStreamHandler)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,))
    serving.start()
    sys.stderr.write(f"listening on 127.0.0.1:{server.server_address[1]}\n")
    sys.stderr.flush()
    signal.sigwait({signal.SIGTERM})
    server.shutdown()
    serving.join()
    server.server_close()  # joins the connection threads: they read to the end
    logging.shutdown()


VARIANTS = (
    Variant("serve-tcp", "mplog serve, senders over TCP (mplog.connect)", serve_tcp),
    Variant("serve-tls", "mplog serve, senders over TLS (mplog.connect)", serve_tls),
    Variant(
        "socket-cookbook",
        "SocketHandler + the cookbook's network receiver (pickle, exact reads)",
        socket_cookbook,
    ),
)
