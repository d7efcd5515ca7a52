"""Every destination mplog supports besides one text file (issue 14), each beside its
baseline: JSON lines, a handler pair, a dictConfig with two loggers, a rotating file.

Each mplog variant runs twice: as shipped (processes format the lines the listener's
handlers would write, see ``mplog._lineplan``) and with ``MPLOG_RECORD_PATH=1`` (the record
path: the listener formats every record), so the table shows the two side by side. The
baselines are a file per worker with the same formatter (``separate-files`` for the text
formats, ``separate-files-json`` for JSON).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mplog
from benchmarks.harness import Job, Outcome, Variant, run_tasks
from benchmarks.workload import FORMAT, install_root_handler
from mplog._outputs.plan import RECORD_PATH_ENV

#: The second handler's format (it takes WARNING and above: none of the workload's records).
WARN_FORMAT = "{asctime} {levelname} {name}: {message}"
ROTATE_AT = "10 MB"
HOSTNAME = socket.gethostname()


def _json_file(path: Path | str) -> logging.Handler:
    handler = logging.FileHandler(path, "a", encoding="utf-8")
    handler.setFormatter(mplog.JsonFormatter())
    return handler


def _pool_fields(record: logging.LogRecord) -> bool:
    """The fields mplog adds to every record, so the baseline's lines hold the same."""
    record.worker_index, record.task_id, record.task_name = None, None, None
    record.hostname = HOSTNAME
    return True


def own_json_file(directory: str) -> None:
    """Worker setup of the JSON baseline: a FileHandler with mplog's JsonFormatter (and the
    same fields as mplog's JSON lines)."""
    handler = _json_file(Path(directory) / f"worker-{os.getpid()}.log")
    handler.addFilter(_pool_fields)
    install_root_handler(handler)


def separate_files_json(job: Job) -> Outcome:
    """Baseline: every worker writes JSON lines to its own file."""
    tasks = run_tasks(job, setup=own_json_file, setup_args=(str(job.workdir),))
    return Outcome(tasks, sorted(job.workdir.glob("worker-*.log")))


@contextlib.contextmanager
def record_path(on: bool) -> Iterator[None]:
    """Within the block, a listener started sends every record on the record path (``on``)
    or uses its line plan."""
    saved = os.environ.get(RECORD_PATH_ENV)
    os.environ[RECORD_PATH_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ[RECORD_PATH_ENV]
        else:
            os.environ[RECORD_PATH_ENV] = saved


def _with(job: Job, records: bool, **options: Any) -> Outcome:
    with record_path(records):
        listener = mplog.setup_listener(level=logging.INFO, **options)
    try:
        tasks = run_tasks(job, executor=mplog.ProcessPoolExecutor)
    finally:
        listener.stop()
    return Outcome(tasks, _written(job.workdir))


def _written(workdir: Path) -> list[Path]:
    """The files holding the workload's records, oldest first (rotated ones included)."""
    files = [p for p in workdir.iterdir() if p.name.startswith("bench.log")]
    return sorted(files, key=lambda p: (p.name == "bench.log", p.stat().st_mtime_ns, p.name))


def _json(job: Job, records: bool) -> Outcome:
    return _with(job, records, filename=job.log_path, json=True)


def _handlers(job: Job, records: bool) -> Outcome:
    main = logging.FileHandler(job.log_path, encoding="utf-8")
    main.setFormatter(logging.Formatter(FORMAT))
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    warnings.setFormatter(logging.Formatter(WARN_FORMAT, style="{"))
    return _with(job, records, handlers=[main, warnings])


def _dictconfig(job: Job, records: bool) -> Outcome:
    def file(path: Path, formatter: str, level: str = "NOTSET") -> dict[str, Any]:
        return {
            "class": "logging.FileHandler",
            "filename": str(path),
            "encoding": "utf-8",
            "formatter": formatter,
            "level": level,
        }

    config = {
        "version": 1,
        "formatters": {"main": {"format": FORMAT}, "warn": {"format": WARN_FORMAT, "style": "{"}},
        "handlers": {
            "bench": file(job.log_path, "main"),
            "other": file(job.workdir / "other.txt", "main"),
            "warnings": file(job.workdir / "warnings.txt", "warn", "WARNING"),
        },
        "loggers": {
            "bench": {"handlers": ["bench"], "level": "INFO"},
            "other": {"handlers": ["other"], "propagate": False},
        },
        "root": {"handlers": ["warnings"], "level": "INFO"},
    }
    return _with(job, records, config=config)


def _rotating(job: Job, records: bool) -> Outcome:
    handler = mplog.RotatingHandler(job.log_path, max_bytes=ROTATE_AT)
    handler.setFormatter(logging.Formatter(FORMAT))
    return _with(job, records, handlers=[handler])


def _pair(name: str, title: str, run: Callable[[Job, bool], Outcome]) -> tuple[Variant, ...]:
    def lines(job: Job) -> Outcome:
        return run(job, False)

    def records(job: Job) -> Outcome:
        return run(job, True)

    return (
        Variant(name, f"{title}: processes format the lines", lines),
        Variant(f"{name}-records", f"{title}: record path (MPLOG_RECORD_PATH=1)", records),
    )


VARIANTS = (
    Variant(
        "separate-files-json",
        "FileHandler + JsonFormatter, a file per worker",
        separate_files_json,
        note="N files, not one",
    ),
    *_pair("mplog-json", "mplog json=True", _json),
    *_pair("mplog-handlers", "mplog handlers=[FileHandler, StreamHandler at WARNING]", _handlers),
    *_pair("mplog-dictconfig", "mplog config= (two loggers, two files)", _dictconfig),
    *_pair("mplog-rotating", f"mplog RotatingHandler every {ROTATE_AT}", _rotating),
)
