"""mplog._setup: setup_listener's file options (json, rotation) and their errors."""

from __future__ import annotations

import gzip
import json
import logging
import multiprocessing
from pathlib import Path

import pytest

import mplog
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
        ({"filename": "x.log", "rotate": "lots"}, "rotate= must be a number of bytes"),
        ({"filename": "x.log", "when": "fortnight"}, "when"),
        ({"filename": "x.log", "keep": -1}, "keep"),
        ({"filename": "x.log", "compress": "zip"}, "zip"),
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
