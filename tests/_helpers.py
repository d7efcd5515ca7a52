"""Helpers shared by the test modules: log line format and parsing, bounded waits."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mplog._checking import RecordCheck

#: Every origin field a test checks, separated by "|"; the message comes last.
FIELDS = ("process", "processName", "threadName", "name", "levelname", "funcName", "lineno")
FMT = "|".join(f"%({f})s" for f in FIELDS) + "|%(message)s"

#: Sequence messages: "seq <tag> <pcount> <i>" where pcount counts records per process.
SEQ = re.compile(r"^seq (?P<tag>\S+) (?P<pcount>\d+) (?P<i>\d+)$")

TIMEOUT = 60.0


def parse_line(line: str) -> dict[str, str]:
    """Split one line written with :data:`FMT` into its fields (the message may contain '|')."""
    parts = line.split("|", len(FIELDS))
    assert len(parts) == len(FIELDS) + 1, f"malformed log line: {line!r}"
    fields = dict(zip((*FIELDS, "message"), parts, strict=True))
    assert fields["process"].isdigit(), f"malformed log line: {line!r}"
    return fields


def read_lines(path: Path | str) -> list[dict[str, str]]:
    """Parse every line of a log file written with :data:`FMT`."""
    text = Path(path).read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the file ends in the middle of a line"
    return [parse_line(line) for line in text.splitlines()]


def check_sequences(
    lines: Iterable[dict[str, str]], expected: dict[str, int], by: str = "process"
) -> dict[str, list[tuple[int | str, int]]]:
    """Assert every tag's "seq" records arrived exactly once, in order, from one process each.

    ``expected`` maps tag -> number of records (the shared record check of
    ``mplog._checking``, as the demo and the benchmarks use). Also checks that within each
    process the per-process counter runs n, n+1, n+2, ... in file order (no loss, no
    reordering, no duplicates across tags of that process). ``by`` is the field that tells
    processes apart ("processName" for the subinterpreters of one process). Returns the
    (process, i) pairs per tag.
    """
    check = RecordCheck((tag, i) for tag, count in expected.items() for i in range(count))
    by_tag: dict[str, list[tuple[int | str, int]]] = defaultdict(list)
    by_pid: dict[int | str, list[int]] = defaultdict(list)
    for fields in lines:
        match = SEQ.match(fields["message"])
        if match is None:
            continue
        origin, tag, i = fields[by], match["tag"], int(match["i"])
        pid = int(origin) if origin.isdigit() else origin
        check.record((tag, i), tag, i)
        by_tag[tag].append((pid, i))
        by_pid[pid].append(int(match["pcount"]))
    verdict = check.verdict()
    assert verdict.ok, f"sequence records: {verdict.problems()}"
    for tag, pairs in by_tag.items():
        assert len({pid for pid, _ in pairs}) == 1, f"tag {tag} came from several pids"
    for pid, counts in by_pid.items():
        first = counts[0]
        assert counts == list(range(first, first + len(counts))), f"pid {pid}: order broken"
    return dict(by_tag)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate()`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_received(listener: Any, expected: int, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``listener.stats()`` until it has received ``expected`` records; return them."""
    holder: dict[str, Any] = {}

    def done() -> bool:
        holder.update(listener.stats())
        return holder.get("received", -1) >= expected

    wait_for(done, timeout, f"{expected} records to reach the listener", 0.05)
    return holder


def call_within(fn: Callable[[], Any], timeout: float = TIMEOUT, what: str = "call") -> None:
    """Run a blocking call with no timeout of its own (Pool.join, shutdown) in a bounded way."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{what} did not finish within {timeout}s"
    if errors:
        raise errors[0]


def close_pool(pool: Any, timeout: float = TIMEOUT) -> None:
    """close() and join() a multiprocessing Pool within ``timeout``; terminate it otherwise."""
    pool.close()
    try:
        call_within(pool.join, timeout, "Pool.join")
    except AssertionError:
        pool.terminate()
        raise


def shutdown_executor(executor: Any, timeout: float = TIMEOUT) -> None:
    """shutdown(wait=True) a ProcessPoolExecutor within ``timeout``."""
    call_within(lambda: executor.shutdown(wait=True), timeout, "executor.shutdown")


def join_process(process: Any, timeout: float = TIMEOUT) -> None:
    """Join a process within ``timeout``, killing it (and failing) if it is still alive."""
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(5)
        raise AssertionError(f"process {process.pid} did not finish within {timeout}s")


class ListHandler(logging.Handler):
    """Collects the records it handles (a thread listener's handlers live in this process)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        """The messages of the records handled so far."""
        return [record.getMessage() for record in self.records]


def run_sender(
    tmp_path: Path,
    address: tuple[str, int],
    tag: str,
    count: int,
    *,
    key: str,
    tls: str = "None",
    pool_method: str | None = None,
) -> str:
    """Run a separate Python program that logs ``count`` "seq <tag>" records into
    ``address`` with ``mplog.connect(key=..., tls=<tls source text>)``, then 3 from a pool of
    its own (started with ``pool_method``, by default the platform's); return its pid."""
    script = tmp_path / f"sender_{tag}.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import itertools, logging, multiprocessing, os
            import mplog

            COUNT = itertools.count()

            def task(i):
                logging.getLogger("remote.pool").info("seq {tag}-pool-%d %d 0", i, next(COUNT))

            if __name__ == "__main__":
                mplog.connect({address!r}, key_env="NET_KEY", tls={tls}, level="INFO")
                for i in range({count}):
                    logging.getLogger("remote").info("seq {tag} %d %d", i, i)
                ctx = multiprocessing.get_context({pool_method!r})
                with mplog.ProcessPoolExecutor(2, mp_context=ctx) as pool:
                    list(pool.map(task, range(3)))
                print(os.getpid())
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "NET_KEY": key},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def dill_cannot_pickle_functions() -> str | None:
    """Why dill (under pathos and multiprocess) cannot pickle a function by value on this
    Python, which pathos's map needs; None when it can. dill 0.4.1 reads
    ``code.co_lnotab``, which Python 3.15 removed."""
    import dill

    try:
        dill.loads(dill.dumps(lambda: 0))
    except Exception as exc:  # the reason is the skip message
        return (
            f"dill {dill.__version__} cannot pickle functions on this Python "
            f"({type(exc).__name__}: {exc}), so pathos's map cannot run here"
        )
    return None
