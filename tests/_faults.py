"""Helpers for the fault-injection tests: child targets, slow and broken handlers, scripts.

Everything a child runs lives here so spawn and forkserver children can import it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import logging.handlers
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psutil

from mplog import _protocol
from tests._helpers import FMT

ROOT = Path(__file__).resolve().parent.parent

#: The listener's report about a process that vanished without closing its stream.
DEATH = re.compile(
    r"^process (?P<pid>\d+) \((?P<name>[^)]*)\) ended without closing its log stream "
    r"\((?P<how>.*)\); (?P<received>\d+) records were received from it$"
)
#: A "seq <tag> <count> <i>" message, possibly followed by padding.
SEQ_ANY = re.compile(r"^seq (?P<tag>\S+) (?P<pcount>\d+) (?P<i>\d+)(?: |$)")
#: A worker's summary of what it dropped.
DROPPED = re.compile(r"^dropped (?P<counts>.*) records from pid (?P<pid>\d+): ")
#: A torn frame report.
TORN = re.compile(r"^process (?P<pid>\d+) \(.*\) ended in the middle of a record")


# -- what children run ---------------------------------------------------------------------


def storm(tag: str, n: int, payload: int = 0, level: int = logging.INFO) -> int:
    """Log ``n`` records "seq <tag> <i> <i>" (plus ``payload`` bytes of padding)."""
    log = logging.getLogger("storm")
    pad = "x" * payload
    for i in range(n):
        if pad:
            log.log(level, "seq %s %d %d", tag, i, i, extra={"pad": pad})
        else:
            log.log(level, "seq %s %d %d", tag, i, i)
    return os.getpid()


class FrameSizes(logging.Handler):
    """Notes the size of the frame each record becomes on the wire (a pipe: a NUL before
    each frame). Added to the root logger after the shipping handler, it sees each record as
    it was shipped."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.sizes.append(
            len(
                _protocol.nul_framed(
                    _protocol.frame(_protocol.KIND_RECORD, _protocol.record_body(record))
                )
            )
        )


def storm_measured(tag: str, n: int, sizes_out: Any, release: Any) -> None:
    """Log like :func:`storm`, send the list of the records' frame sizes, then stay alive
    until ``release`` is set."""
    measure = FrameSizes()
    root = logging.getLogger()
    root.addHandler(measure)
    try:
        storm(tag, n)
    finally:
        root.removeHandler(measure)
    sizes_out.send(measure.sizes)
    release.wait(60)


def storm_forever(tag: str, ready: Any) -> None:
    """Log "seq <tag> i i" records (each 2 KiB) until killed; set ``ready`` after the first."""
    log = logging.getLogger("victim")
    pad = "v" * 2048
    i = 0
    while True:
        log.info("seq %s %d %d %s", tag, i, i, pad)
        if i == 0:
            ready.set()
        i += 1


def huge_then_wait(size: int, ready: Any) -> None:
    """Set ``ready``, then log one record of ``size`` bytes (blocks on a full stream)."""
    ready.set()
    logging.getLogger("victim").info("huge %s", "h" * size)
    time.sleep(60)


def log_with_progress(tag: str, progress_dir: str, forever: bool = True, n: int = 0) -> int:
    """Log "seq <tag>-<pid> i i" records; after each call returns, write how many returned.

    The progress file holds one native int (pwrite at offset 0), so whatever kills this
    process, the file says how many logging calls had *returned* before it died.
    """
    pid = os.getpid()
    tag = f"{tag}-{pid}"
    fd = os.open(os.path.join(progress_dir, f"{pid}.progress"), os.O_WRONLY | os.O_CREAT, 0o644)
    log = logging.getLogger("progress")
    i = 0
    try:
        while forever or i < n:
            log.info("seq %s %d %d", tag, i, i)
            i += 1
            os.pwrite(fd, struct.pack("q", i), 0)
    finally:
        os.close(fd)
    return pid


def read_progress(progress_dir: str | Path) -> dict[int, int]:
    """pid -> number of logging calls that returned, from :func:`log_with_progress` files."""
    result = {}
    for path in Path(progress_dir).glob("*.progress"):
        data = path.read_bytes()
        result[int(path.stem)] = struct.unpack("q", data)[0] if len(data) == 8 else 0
    return result


def task_with_done_marker(task: int, n: int, done_dir: str, delay: float) -> int:
    """An executor task: log ``n`` "seq t<task>" records, sleep, then leave a done marker."""
    log = logging.getLogger("task")
    for i in range(n):
        log.info("seq t%d %d %d", task, i, i)
    time.sleep(delay)
    Path(done_dir, f"{task}.done").write_text(str(os.getpid()))
    return os.getpid()


def levels_mix(counts: dict[str, int]) -> int:
    """Log ``counts[level]`` records at each level name; return the pid."""
    log = logging.getLogger("mix")
    for name, n in counts.items():
        level = logging.getLevelName(name)
        for i in range(n):
            log.log(level, "mix %s %d", name, i)
    return os.getpid()


def levels_mix_then_wait(counts: dict[str, int], done: Any, release: Any) -> int:
    """:func:`levels_mix`, set ``done``, then stay connected until ``release`` is set."""
    pid = levels_mix(counts)
    done.set()
    release.wait(60)
    return pid


def interleaved(tag: str, n: int) -> int:
    """Log ``n`` pairs: a DEBUG "seq <tag>-d i i" and a WARNING "seq <tag>-w i i"."""
    log = logging.getLogger("mixed")
    for i in range(n):
        log.debug("seq %s-d %d %d", tag, i, i)
        log.warning("seq %s-w %d %d", tag, i, i)
    return os.getpid()


def wait_then_storm(tag: str, n: int, go: Any, payload: int, ready: Any = None) -> int:
    """Release ``ready`` (a semaphore) if given, wait for ``go``, then :func:`storm`."""
    if ready is not None:
        ready.release()
    go.wait(60)
    return storm(tag, n, payload)


# -- listener-side handlers ----------------------------------------------------------------


class SlowFileHandler(logging.FileHandler):
    """A FileHandler that sleeps ``delay`` seconds per record: a slow disk."""

    def __init__(self, path: str, delay: float) -> None:
        super().__init__(path, encoding="utf-8")
        self.delay = delay
        self.setFormatter(logging.Formatter(FMT))

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(self.delay)
        super().emit(record)


class SlowRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that sleeps ``delay`` seconds per record."""

    def __init__(self, filename: str, delay: float, **kwargs: Any) -> None:
        super().__init__(filename, encoding="utf-8", **kwargs)
        self.delay_per_record = delay

    def emit(self, record: logging.LogRecord) -> None:
        time.sleep(self.delay_per_record)
        super().emit(record)


def slow_file_handlers(path: str, delay: float) -> list[logging.Handler]:
    """Handler factory: one :class:`SlowFileHandler`."""
    return [SlowFileHandler(path, delay)]


def stalled_then_fast_handlers(path: str, stall: float) -> list[logging.Handler]:
    """Handler factory: a file handler that stalls ``stall`` seconds on its first record."""

    class Stall(logging.FileHandler):
        stalled = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.stalled:
                self.stalled = True
                time.sleep(stall)
            super().emit(record)

    handler = Stall(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FMT))
    return [handler]


class RaisingHandler(logging.Handler):
    """A handler whose emit raises OSError(ENOSPC): directly, or through handleError."""

    def __init__(self, via_handle_error: bool) -> None:
        super().__init__()
        self.via_handle_error = via_handle_error

    def emit(self, record: logging.LogRecord) -> None:
        error = OSError(errno.ENOSPC, "No space left on device")
        if not self.via_handle_error:
            raise error
        try:
            raise error
        except OSError:
            self.handleError(record)

    def __repr__(self) -> str:
        return "<RaisingHandler enospc>"


def good_and_bad_handlers(path: str, kind: str) -> list[logging.Handler]:
    """Handler factory: a good FileHandler on ``path`` and a broken handler of ``kind``."""
    good = logging.FileHandler(path, encoding="utf-8")
    good.setFormatter(logging.Formatter(FMT))
    bad: logging.Handler
    if kind == "closed_stream":
        stream = io.StringIO()
        stream.close()
        bad = logging.StreamHandler(stream)
    elif kind == "enospc_raise":
        bad = RaisingHandler(via_handle_error=False)
    else:
        bad = RaisingHandler(via_handle_error=True)
    return [bad, good]


# -- reading results -------------------------------------------------------------------------


def seq_by_tag(lines: list[dict[str, str]]) -> dict[str, list[tuple[int, int]]]:
    """tag -> [(pid, i)] of every "seq" record, in file order."""
    result: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for fields in lines:
        match = SEQ_ANY.match(fields["message"])
        if match is not None:
            result[match["tag"]].append((int(fields["process"]), int(match["i"])))
    return dict(result)


def assert_complete(by_tag: dict[str, list[tuple[int, int]]], tag: str, n: int) -> None:
    """Tag ``tag`` has exactly records 0..n-1, once each, in order."""
    seen = [i for _, i in by_tag.get(tag, [])]
    assert seen == list(range(n)), f"tag {tag}: {len(seen)} records, expected 0..{n - 1} in order"


def assert_prefix(by_tag: dict[str, list[tuple[int, int]]], tag: str) -> int:
    """Tag ``tag`` has records 0..k-1, once each, in order; return k."""
    seen = [i for _, i in by_tag.get(tag, [])]
    assert seen == list(range(len(seen))), f"tag {tag}: a gap, duplicate or reordering"
    return len(seen)


def mplog_records(lines: list[dict[str, str]]) -> list[dict[str, str]]:
    """The records of logger "mplog" (the listener's and the workers' own reports)."""
    return [f for f in lines if f["name"] == "mplog"]


def deaths(lines: list[dict[str, str]]) -> dict[int, list[tuple[str, str, int]]]:
    """pid -> [(levelname, how, received)] of the listener's death reports."""
    result: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for fields in mplog_records(lines):
        match = DEATH.match(fields["message"])
        if match:
            result[int(match["pid"])].append(
                (fields["levelname"], match["how"], int(match["received"]))
            )
    return dict(result)


def drop_summaries(lines: list[dict[str, str]]) -> dict[int, Counter[str]]:
    """pid -> level -> records dropped, summed over every "dropped ..." summary."""
    result: dict[int, Counter[str]] = defaultdict(Counter)
    for fields in mplog_records(lines):
        match = DROPPED.match(fields["message"])
        if match:
            assert int(match["pid"]) == int(fields["process"]), fields
            for part in match["counts"].split(", "):
                count, level = part.split(" ")
                result[int(match["pid"])][level] += int(count)
    return dict(result)


def ended_state(listener: Any, pid: int | None) -> str | None:
    """Process ``pid``'s state in ``listener.stats()`` once its stream ended, else None."""
    state = listener.stats()["processes"].get(pid, {}).get("state")
    return None if state in (None, "connected") else str(state)


def tree_rss(pid: int) -> int:
    """Resident memory of process ``pid`` and all its descendants, in bytes."""
    total = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


# -- scenarios run as scripts ----------------------------------------------------------------


def write_script(directory: Path, body: str) -> str:
    """Write ``body`` (dedented) as ``directory/scenario.py`` (spawn children import it)."""
    path = Path(directory) / "scenario.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def run_script(
    directory: Path, body: str, *args: str, timeout: float = 60.0, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` as a script with this Python, the repo on sys.path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, write_script(directory, body), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        check=False,
        **kwargs,
    )


def start_script(directory: Path, body: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``body`` as a script (stdout and stderr piped), the repo on sys.path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, write_script(directory, body), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(ROOT),
        **kwargs,
    )


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a script and every descendant it left (cleanup after a failed test)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.send_signal(signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def json_line(text: str, prefix: str) -> Any:
    """The JSON after ``prefix`` on the first line of ``text`` that starts with it."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix) :])
    raise AssertionError(f"no {prefix!r} line in output:\n{text}")


def alive(pids: list[int]) -> list[int]:
    """The pids in ``pids`` that are still running (zombies count as gone)."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.Error:
            pass
    return result


def log_then_die(tag: str, n: int, how: str) -> None:
    """Log ``n`` records, then end without closing the stream: os._exit(0|3) or a segfault."""
    storm(tag, n)
    if how == "segfault":
        import ctypes
        import faulthandler

        faulthandler.disable()  # pytest's, inherited at fork: keep the expected crash quiet
        ctypes.string_at(0)
    os._exit(3 if how == "exit3" else 0)
