"""The output examples: each runs as a user would run it and writes exactly what it says."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from tests import test_examples as examples


def run_example(script: str, *args: str) -> str:
    """Run ``examples/<script>``; it must succeed. Returns its stdout."""
    return examples.run_example(script, *args).stdout


def _rotation_order(path: Path) -> tuple[str, int]:
    # "rotated.log.<Y-m-d_H-M-S>[.N].gz": N counts the rotations within one second, and the
    # first of each second has none (sorting on N alone failed when a run crossed a second).
    stamp, _, counter = path.name[len("rotated.log.") : -len(".gz")].partition(".")
    return stamp, int(counter or 0)


def test_rotation_namer_rotator(tmp_path: Path) -> None:
    """The cookbook recipe: the live file plus the five newest rotated files, gzipped by the
    rotator under the namer's ".gz" names, holding each task's newest messages, none missing
    (two workers interleave, so the kept window holds the tails of the tasks that ran last)."""
    out = run_example("rotation_namer_rotator.py", str(tmp_path))
    rotated = sorted(tmp_path.glob("rotated.log.*.gz"), key=_rotation_order)
    assert len(rotated) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["rotated.log", *(p.name for p in rotated)]
    )
    text = ""
    for path in rotated:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            text += file.read()
    text += (tmp_path / "rotated.log").read_text(encoding="utf-8")
    numbers = [int(m) for m in re.findall(r" Message no\. (\d+)$", text, re.MULTILINE)]
    assert len(numbers) == len(text.splitlines()) > 5
    assert len(set(numbers)) == len(numbers)
    by_task: dict[int, list[int]] = {}
    for number in numbers:
        by_task.setdefault((number - 1) // 250, []).append(number)
    for task, kept in by_task.items():
        assert sorted(kept) == list(range(min(kept), (task + 1) * 250 + 1)), f"task {task}"
    for path in [*rotated, tmp_path / "rotated.log"]:
        assert f"wrote {path} (" in out


def test_json_lines(tmp_path: Path) -> None:
    """Every line of orders.jsonl is a JSON object; the failed orders carry their exception
    as structure, every record its context and extra fields."""
    out = run_example("json_lines.py", str(tmp_path))
    path = tmp_path / "orders.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert f"wrote {path} ({len(records)} lines)" in out
    assert len(records) == 12
    assert all(r["service"] == "shop" and r["logger"] == "shop.orders" for r in records)
    failed = [r for r in records if r["level"] == "ERROR"]
    assert sorted(r["order_id"] for r in failed) == [2, 5]
    for record in failed:
        assert record["exc_info"]["type"] == "ValueError"
        assert record["exc_info"]["frames"][-1]["name"] == "process_order"
        assert "card declined" in record["exc_text"]
    received = [r for r in records if r["message"] == "order received"]
    assert sorted(r["items"] for r in received) == list(range(1, 7))
    assert '"exc_info": {' in out
