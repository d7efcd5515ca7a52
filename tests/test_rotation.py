"""RotatingHandler: size and time rotation, retention, background compression, namer/rotator
hooks, and a storm of records from many processes through mplog across many rotations."""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import logging
import lzma
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._outputs.schedule import period_bounds
from mplog.handlers import Codec, RotatingHandler, parse_size
from tests import _workers
from tests._helpers import FMT, check_sequences, parse_line, shutdown_executor

#: Readers of compressed files, by suffix (each module has the same open()).
OPENERS: dict[str, Any] = {".gz": gzip, ".bz2": bz2, ".xz": lzma}


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    """A UTC timestamp."""
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()


class FakeClock:
    """A settable clock for the handler's ``clock=``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_logger() -> Iterator[Callable[[logging.Handler], logging.Logger]]:
    """A private logger writing only to the given handler; the handler is closed after."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(handler: logging.Handler) -> logging.Logger:
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger(f"rotation-test-{len(made)}-{id(handler)}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        made.append((logger, handler))
        return logger

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        handler.close()


def read_any(path: Path) -> bytes:
    """A log file's content, decompressed according to its suffix."""
    module = OPENERS.get(path.suffix)
    if module is None:
        return path.read_bytes()
    with module.open(path, "rb") as file:
        data: bytes = file.read()
    return data


def rotated(directory: Path, base: str = "app.log") -> list[Path]:
    """The rotated files of ``base``, oldest first (by name: timestamp, then counter)."""

    def key(path: Path) -> tuple[str, int]:
        rest = path.name[len(base) + 1 :].split(".")
        return rest[0], int(rest[1]) if len(rest) > 1 and rest[1].isdigit() else 0

    return sorted((p for p in directory.iterdir() if p.name.startswith(base + ".")), key=key)


def test_parse_size() -> None:
    """Sizes are ints or texts with decimal (K=1000) or binary (Ki=1024) units."""
    assert parse_size(123) == 123
    assert parse_size("100 MB") == 100_000_000
    assert parse_size("10KiB") == 10240
    assert parse_size("1.5g") == 1_500_000_000
    assert parse_size("512") == 512
    for bad in ("ten MB", "-1", -1, "1 XB"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_size_boundary(tmp_path: Path, make_logger: Callable[..., logging.Logger]) -> None:
    """A file may reach max_bytes exactly, never exceed it; records are never split; a record
    larger than the limit gets a file of its own; nothing is lost or reordered."""
    path = tmp_path / "app.log"
    log = make_logger(RotatingHandler(path, max_bytes=100))
    lines = [f"line {i:03d} " + "x" * 15 for i in range(10)]  # 24 chars + newline = 25 bytes
    for line in lines[:4]:
        log.info(line)
    assert path.stat().st_size == 100 and not rotated(tmp_path)
    log.info(lines[4])
    assert [p.stat().st_size for p in rotated(tmp_path)] == [100]
    log.info("y" * 300)  # larger than max_bytes: rotates, then is written whole
    for line in lines[5:]:
        log.info(line)
    files = [*rotated(tmp_path), path]
    assert [f.stat().st_size for f in files] == [100, 25, 301, 100, 25]
    text = "".join(f.read_text() for f in files)
    assert text == "\n".join([*lines[:5], "y" * 300, *lines[5:]]) + "\n"


def test_append_lines_rotates_between_records(tmp_path: Path) -> None:
    """The listener's hook: append_lines() rotates exactly as emit() does, never splitting a
    record, even a multi-line one."""
    path = tmp_path / "app.log"
    handler = RotatingHandler(path, max_bytes=64)
    records = [f"record {i}\n  second line {i}\n".encode() for i in range(20)]
    handler.append_lines(records[:10])
    handler.append_lines(memoryview(r) for r in records[10:])
    handler.close()
    files = [*rotated(tmp_path), path]
    assert all(f.stat().st_size <= 64 for f in files)
    for file in files:
        assert file.read_bytes().endswith(b"\n") and file.read_bytes().startswith(b"record ")
    assert b"".join(f.read_bytes() for f in files) == b"".join(records)


def test_time_rotation_with_fake_clock(
    tmp_path: Path, make_logger: Callable[..., logging.Logger]
) -> None:
    """when="H": the file turns over on the hour and is named after the hour it covers; an
    idle hour produces no empty file."""
    clock = FakeClock(utc(2024, 5, 1, 10, 15, 0))
    path = tmp_path / "app.log"
    log = make_logger(RotatingHandler(path, when="H", utc=True, clock=clock))
    log.info("10:15")
    clock.now = utc(2024, 5, 1, 10, 59, 59)
    log.info("10:59:59")
    clock.now = utc(2024, 5, 1, 11, 0, 0)
    log.info("11:00")
    clock.now = utc(2024, 5, 1, 13, 30, 0)  # 12:00-13:00 had no record
    log.info("13:30")
    names = [p.name for p in rotated(tmp_path)]
    assert names == ["app.log.2024-05-01_10", "app.log.2024-05-01_11"]
    assert (tmp_path / names[0]).read_text() == "10:15\n10:59:59\n"
    assert (tmp_path / names[1]).read_text() == "11:00\n"
    assert path.read_text() == "13:30\n"


def test_period_bounds() -> None:
    """Periods align to the clock: minutes by interval, midnight, weekdays (W0 is Monday)."""
    now = utc(2024, 5, 1, 10, 17, 42)  # a Wednesday
    assert period_bounds(now, "M", 5, True) == (
        utc(2024, 5, 1, 10, 15, 0),
        utc(2024, 5, 1, 10, 20, 0),
        "2024-05-01_10-15",
    )
    assert period_bounds(now, "MIDNIGHT", 1, True)[:2] == (
        utc(2024, 5, 1, 0, 0, 0),
        utc(2024, 5, 2, 0, 0, 0),
    )
    assert period_bounds(now, "W0", 1, True) == (
        utc(2024, 4, 29, 0, 0, 0),
        utc(2024, 5, 6, 0, 0, 0),
        "2024-04-29",
    )
    start, end, _ = period_bounds(now, "S", 1, False)  # local time: one second, whatever zone
    assert end - start == 1 and start <= now < end
    with pytest.raises(ValueError):
        RotatingHandler("unused.log", when="fortnight", delay=True)


def test_retention_by_count(tmp_path: Path, make_logger: Callable[..., logging.Logger]) -> None:
    """keep=2 leaves the two newest rotated files (and the live one), whatever was compressed."""
    path = tmp_path / "app.log"
    handler = RotatingHandler(path, max_bytes=10, keep=2, compress="gzip")
    log = make_logger(handler)
    for i in range(7):
        log.info(f"record {i}")  # 9 bytes each: one record per file
    handler.close()
    files = rotated(tmp_path)
    assert [read_any(f) for f in files] == [b"record 4\n", b"record 5\n"]
    assert path.read_text() == "record 6\n"


def test_retention_by_days(tmp_path: Path, make_logger: Callable[..., logging.Logger]) -> None:
    """keep_days deletes rotated files whose last record is older than that, and only those;
    files that are not rotated files of this log are never touched."""
    clock = FakeClock(time.time())
    path = tmp_path / "app.log"
    old = tmp_path / "app.log.2024-01-01_00-00-00.gz"
    recent = tmp_path / "app.log.2024-01-09_00-00-00"
    other = tmp_path / "other.log.2024-01-01_00-00-00"
    for file, age_days in ((old, 8), (recent, 2), (other, 30)):
        file.write_bytes(b"x\n")
        stamp = clock.now - age_days * 86400
        os.utime(file, (stamp, stamp))
    handler = RotatingHandler(path, max_bytes=5, keep_days=7, clock=clock)
    log = make_logger(handler)
    log.info("first")
    log.info("second")  # rotates "first" out, then retention runs in the background
    handler.close()
    assert not old.exists()
    assert recent.exists() and other.exists()
    assert len(rotated(tmp_path)) == 2  # recent + the one just rotated


@pytest.mark.parametrize(
    ("compress", "suffix", "tool"),
    [("gzip", ".gz", "zcat"), ("bz2", ".bz2", "bzcat"), ("lzma", ".xz", "xzcat")],
)
def test_compression_readable(
    tmp_path: Path,
    make_logger: Callable[..., logging.Logger],
    compress: str,
    suffix: str,
    tool: str,
) -> None:
    """Rotated files are really compressed, readable by the stdlib and by the command line
    tools; no uncompressed or temporary file is left once the handler is closed."""
    path = tmp_path / "app.log"
    handler = RotatingHandler(path, max_bytes=2000, compress=compress)
    log = make_logger(handler)
    lines = [f"line {i} é ✓ " + "abc" * 20 for i in range(100)]
    for line in lines:
        log.info(line)
    handler.close()
    files = rotated(tmp_path)
    assert files and all(f.suffix == suffix for f in files)
    data = b"".join(read_any(f) for f in files) + path.read_bytes()
    assert data.decode("utf-8") == "\n".join(lines) + "\n"
    if shutil.which(tool):
        result = subprocess.run([tool, str(files[0])], capture_output=True, timeout=30, check=True)
        assert result.stdout == read_any(files[0])
    assert sum(f.stat().st_size for f in files) < len(data) / 3


def test_compression_does_not_block_emit(
    tmp_path: Path, make_logger: Callable[..., logging.Logger]
) -> None:
    """With a compressor that takes a second per file, a rotating emit() still returns at
    once; the compressed file appears only complete, and close() waits for it."""
    started = threading.Event()

    def slow_gzip(raw: io.BufferedWriter, name: str, mtime: float) -> io.BufferedIOBase:
        started.set()
        time.sleep(1.0)
        return gzip.GzipFile(name, "wb", fileobj=raw)

    path = tmp_path / "app.log"
    handler = RotatingHandler(path, max_bytes=10, compress=Codec(".gz", slow_gzip))
    log = make_logger(handler)
    log.info("record 0")
    began = time.perf_counter()
    log.info("record 1")  # rotates record 0 out: the slow compression starts
    log.info("record 2")  # and again
    elapsed = time.perf_counter() - began
    assert started.wait(10)
    assert elapsed < 0.25, f"emit took {elapsed:.3f}s while compressing"
    assert not list(tmp_path.glob("*.gz")), "a compressed file appeared before it was complete"
    assert path.read_text() == "record 2\n"
    handler.close()
    files = rotated(tmp_path)
    assert [f.suffix for f in files] == [".gz", ".gz"]
    assert [read_any(f) for f in files] == [b"record 0\n", b"record 1\n"]
    assert not list(tmp_path.glob("*.tmp"))


def cookbook_namer(name: str) -> str:
    """The Logging Cookbook's namer: rotated files get ".gz"."""
    return name + ".gz"


def cookbook_rotator(source: str, dest: str) -> None:
    """The Logging Cookbook's rotator: gzip the source into dest, remove the source."""
    with open(source, "rb") as f_in, gzip.open(dest, "wb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    os.remove(source)


def test_namer_and_rotator_hooks(
    tmp_path: Path, make_logger: Callable[..., logging.Logger]
) -> None:
    """The cookbook's namer and rotator work as on the stdlib handlers: rotated files carry
    the namer's name and the rotator's content; the rotator runs off the writing thread."""
    threads: list[str] = []

    def rotator(source: str, dest: str) -> None:
        threads.append(threading.current_thread().name)
        cookbook_rotator(source, dest)

    path = tmp_path / "app.log"
    handler = RotatingHandler(path, max_bytes=128, keep=5)
    handler.namer = cookbook_namer
    handler.rotator = rotator
    log = make_logger(handler)
    for i in range(100):
        log.info(f"Message no. {i + 1}")
    handler.close()
    files = rotated(tmp_path)
    assert len(files) == 5 and all(f.name.endswith(".gz") for f in files)
    assert threads and threading.current_thread().name not in threads
    text = b"".join(read_any(f) for f in files).decode() + path.read_text()
    assert text.endswith("Message no. 100\n")
    numbers = [int(line.rsplit(" ", 1)[1]) for line in text.splitlines()]
    assert numbers == list(range(numbers[0], 101))
    assert not list(tmp_path.glob("*.rotating"))


def test_dictconfig(tmp_path: Path) -> None:
    """The handler is configurable by class name in a dictConfig dict, with string sizes."""
    path = tmp_path / "app.log"
    config = {
        "version": 1,
        "handlers": {
            "file": {
                "class": "mplog.handlers.RotatingHandler",
                "filename": str(path),
                "max_bytes": "1KiB",
                "compress": "gzip",
                "keep": 3,
            }
        },
        "root": {"handlers": ["file"], "level": "INFO"},
    }
    with mplog.setup_listener(config=config):
        for i in range(500):
            logging.getLogger("cfg").info("configured %d", i)
    files = rotated(tmp_path)
    assert len(files) == 3 and all(f.suffix == ".gz" for f in files)
    assert path.read_text().endswith("configured 499\n")


# -- a storm from many processes through mplog ---------------------------------------------


def make_storm_handlers(path: str) -> list[logging.Handler]:
    """The storm's handler: small files, gzip; a factory for the listener process."""
    handler = RotatingHandler(path, max_bytes="4 KiB", compress="gzip")
    handler.setFormatter(logging.Formatter(FMT))
    return [handler]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_storm_across_many_rotations(tmp_path: Path, mode: str) -> None:
    """Many processes log through mplog into a handler rotating every few KiB: after dozens
    of rotations every record is in exactly one file, every line intact, in order per
    process, and no file over the size (the processes' plain lines arrive many per read:
    the listener hands them to the handler one record each)."""
    path = str(tmp_path / "app.log")
    tasks, per_task = 8, 300
    handlers = (
        make_storm_handlers(path)
        if mode == "thread"
        else functools.partial(make_storm_handlers, path)
    )
    listener = mplog.setup_listener(handlers=handlers, mode=mode, level="INFO")  # type: ignore[arg-type]
    with listener, mplog.ProcessPoolExecutor(4) as executor:
        futures = [executor.submit(_workers.task_seq, t, per_task) for t in range(tasks)]
        for future in futures:
            future.result(timeout=60)
        shutdown_executor(executor)
    assert listener.stats()["written"] >= tasks * per_task
    files = rotated(tmp_path)
    assert len(files) >= 20 and all(f.suffix == ".gz" for f in files)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("app.log.*[0-9]"))
    lines: list[dict[str, str]] = []
    for file in [*files, Path(path)]:
        text = read_any(file).decode("utf-8")
        assert text.endswith("\n"), f"{file.name} ends inside a line"
        assert len(text) <= 4096, f"{file.name} is over max_bytes: rotation between records"
        lines += [parse_line(line) for line in text.splitlines()]
    check_sequences(lines, {f"t{t}": per_task for t in range(tasks)})


def test_failing_rotator_is_counted_and_writing_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotator that raises fails in the background: counted in background_errors, named on
    stderr, and the writer keeps writing every record into the live file."""
    handler = RotatingHandler(tmp_path / "r.log", max_bytes=64, close_timeout=10)

    def broken(source: str, dest: str) -> None:
        raise OSError("disk full")

    handler.rotator = broken
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(10):
        handler.handle(logging.makeLogRecord({"msg": f"record {i:02d} " + "x" * 30}))
    handler.close()
    assert handler.background_errors >= 1
    assert "disk full" in capsys.readouterr().err
    assert "record 09" in (tmp_path / "r.log").read_text()
