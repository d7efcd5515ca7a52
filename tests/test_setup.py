"""mplog._setup: setup_listener's file options (json, rotation) and their errors."""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog.handlers import Codec
from tests import _workers


def _all_lines(directory: Path, stem: str) -> list[str]:
    lines: list[str] = []
    for path in sorted(directory.glob(stem + "*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as file:
            lines += file.read().splitlines()
    return lines


def test_rotated_gzipped_file_holds_every_record_once(tmp_path: Path, mode: str) -> None:
    """A storm from a spawn pool into a 20 KB-rotated, gzipped file: every record is in
    exactly one of the files, intact."""
    with (
        mplog.setup_listener(
            tmp_path / "app.log", level="INFO", mode=mode, rotate="20 KB", compress="gzip"
        ),
        mplog.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        list(pool.map(_workers.task_seq, range(4), [500] * 4))
    lines = [line for line in _all_lines(tmp_path, "app.log") if " seq " in line]
    assert len(list(tmp_path.glob("app.log.*.gz"))) >= 3, "the file never rotated"
    seen = sorted(line.split(" seq ", 1)[1] for line in lines)
    assert len(seen) == len(set(seen)) == 2000
    assert {s.split()[0] for s in seen} == {"t0", "t1", "t2", "t3"}


def test_json_file_from_workers(tmp_path: Path, mode: str) -> None:
    """json=True: one valid JSON object per record from every process, with the task
    fields and, for an exception logged in a worker, its structure."""
    path = tmp_path / "app.jsonl"
    with (
        mplog.setup_listener(path, level="INFO", mode=mode, json=True),
        mplog.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        list(pool.map(_workers.task_seq, range(2), [3, 3]))
        pool.submit(_workers.exception_records).result(60)
        logging.getLogger("main").info("from main")
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert sum(r["message"].startswith("seq ") for r in records) == 6
    assert {r["task_id"] for r in records if r["message"].startswith("seq ")} == {0, 1}
    assert any(r.get("exc_info", {}).get("type") for r in records), "no structured exception"
    assert records[-1]["message"] == "from main" or any(
        r["message"] == "from main" for r in records
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"handlers": [logging.NullHandler()], "rotate": "1 MB"}, "apply to a filename"),
        ({"config": {"version": 1}, "json": True}, "apply to a filename"),
        ({"filename": "x.log", "rotate": "lots"}, "rotate= of setup_listener. must be a number"),
        (
            {"filename": "x.log", "keep": 3},
            "keep= only take effect when the file rotates: add rotate=",
        ),
        ({"filename": "x.log", "utc": True}, "utc=True only take effect when the file rotates"),
        ({"filename": "x.log", "rotate": 100, "keep": 1.5}, "keep must be a count of files"),
        ({"filename": "x.log", "rotate": 100, "utc": 1}, "utc must be True or False"),
        ({"filename": "x.log", "when": "fortnight"}, "when"),
        ({"filename": "x.log", "rotate": 100, "keep": -1}, "keep"),
        ({"filename": "x.log", "rotate": 100, "compress": "zip"}, "zip"),
        ({"filename": "x.log", "style": "#"}, "style"),
    ],
)
def test_bad_file_options_fail_before_anything_starts(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    """Each bad option is a ValueError naming it, raised before a listener starts."""
    if "filename" in kwargs:
        kwargs["filename"] = str(tmp_path / str(kwargs["filename"]))
    with pytest.raises(ValueError, match=message):
        mplog.setup_listener(**kwargs)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir()), "a file was created before the error"


@pytest.mark.parametrize(
    ("options", "attribute", "expected"),
    [
        ({"rotate": 1}, "max_bytes", 1),
        ({"rotate": "2 KiB"}, "max_bytes", 2048),
        ({"rotate": 0, "when": "h"}, "when", "H"),
        ({"when": "m", "interval": 2}, "interval", 2),
        ({"rotate": 100, "utc": True}, "utc", True),
        ({"rotate": 100, "keep": 0}, "keep", 0),
        ({"rotate": 100, "keep": 1}, "keep", 1),
        ({"rotate": 100, "keep_days": 0}, "keep_days", 0),
        ({"rotate": 100, "keep_days": 1.5}, "keep_days", 1.5),
        ({"rotate": 100, "compress": "gzip"}, "codec", Codec),
    ],
)
def test_each_rotation_option_reaches_the_handler(
    tmp_path: Path, options: dict[str, Any], attribute: str, expected: Any
) -> None:
    """Every rotation option of setup_listener arrives in the RotatingHandler the listener
    builds, with its value (True, 1, 0 and False included: they used to vanish)."""
    with mplog.setup_listener(tmp_path / "app.log", **options) as listener:
        router = listener.destination.build()
    try:
        (handler,) = router.handlers
        assert isinstance(handler, mplog.RotatingHandler)
        value = getattr(handler, attribute)
        if isinstance(expected, type):
            assert isinstance(value, expected)
        else:
            assert value == expected and type(value) is type(expected)
    finally:
        router.close()


def _rotate_records(path: Path, count: int, **options: Any) -> list[Path]:
    """Log ``count`` records of ~100 bytes into ``path`` rotated every 300 bytes; return
    the rotated files."""
    with mplog.setup_listener(path, fmt="%(message)s", level="INFO", rotate=300, **options):
        for i in range(count):
            logging.getLogger("app").info("record %03d %s", i, "x" * 90)
    return sorted(p for p in path.parent.iterdir() if p.name != path.name)


def test_keep_1_keeps_one_rotated_file(tmp_path: Path) -> None:
    """rotate=300, keep=1 and 60 records of ~100 bytes: one rotated file, not 29."""
    rotated = _rotate_records(tmp_path / "app.log", 60, keep=1)
    assert len(rotated) == 1, [p.name for p in rotated]
    assert "record 059" in (tmp_path / "app.log").read_text()


def test_keep_0_keeps_no_rotated_file(tmp_path: Path) -> None:
    """keep=0 deletes each rotated file once rotated: only the live file remains, holding
    the newest records (not the standard library's backupCount=0, which never rotates)."""
    rotated = _rotate_records(tmp_path / "app.log", 60, keep=0)
    assert rotated == []
    live = (tmp_path / "app.log").read_text()
    assert "record 059" in live and "record 000" not in live


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """Local time 5h30 ahead of UTC for this test (restored after it)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("far_from_utc")
@pytest.mark.parametrize("utc", [True, False])
def test_utc_names_rotated_files_in_utc(tmp_path: Path, utc: bool) -> None:
    """utc=True stamps rotated names in UTC, utc=False in local time (here UTC+5:30)."""
    rotated = _rotate_records(tmp_path / "app.log", 10, utc=utc)
    assert rotated
    stamp = rotated[0].name.removeprefix("app.log.").split(".")[0]
    named = datetime.strptime(stamp, "%Y-%m-%d_%H-%M-%S")
    now = datetime.now(timezone.utc if utc else None).replace(tzinfo=None)
    assert abs((now - named).total_seconds()) < 600, (stamp, now)
