"""``python -m mplog demo``: the command line, the checker it relies on, and real runs."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mplog import _demo
from mplog.__main__ import main as cli_main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mplog ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mplog", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("start_method", "mode"), [("spawn", "thread"), ("fork", "thread"), ("spawn", "process")]
)
def test_demo_delivers_everything(tmp_path: Path, start_method: str, mode: str) -> None:
    """A small demo run exits 0 and reports every record found exactly once, per process."""
    out = tmp_path / "demo.log"
    result = run_cli(
        "demo", "--workers", "2", "--tasks", "20", "--records-per-task", "3",
        "--start-method", start_method, "--mode", mode, "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    total = 3 * (20 + 2)
    assert f"log file: {out}" in result.stdout
    assert (
        f"expected {total}, found {total}, lost 0, duplicated 0, corrupt 0, "
        "unexpected 0, reordered 0" in result.stdout
    )
    assert f"listener received {total} records" in result.stdout
    assert "OK: every record arrived exactly once, intact and in order" in result.stdout
    assert re.search(
        rf"listener start to stop: \d+\.\d\d s, mostly the pool starting its 2 workers "
        rf"\({start_method}\) and passing them 20 tasks, not logging",
        result.stdout,
    )
    assert re.search(
        r"while the tasks logged: 60 records in \d+\.\d+ s .*, [\d,]+ records/s", result.stdout
    )
    cost = re.search(
        r"one logging call in this process: mplog (\d+\.\d) µs, a plain logging.FileHandler "
        r"(\d+\.\d) µs \(\d+\.\d\dx; CPU time, median of 5 rounds of 2,000 calls each\)$",
        result.stdout,
        re.MULTILINE,
    )
    assert cost is not None, result.stdout
    assert float(cost[1]) > 0 and float(cost[2]) > 0
    rows = re.findall(r"^  (\S+) +(\d+) +(\d+)  ", result.stdout, re.MULTILINE)
    assert ("MainProcess", 6) in [(name, int(n)) for name, _, n in rows]
    assert sum(int(n) for _, _, n in rows) == total
    assert len(out.read_text(encoding="utf-8").splitlines()) == total


def test_no_arguments_prints_usage() -> None:
    """``python -m mplog`` alone prints the usage, naming the demo command."""
    result = run_cli()
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m mplog")
    assert "demo" in result.stdout


def test_existing_output_file_is_refused(tmp_path: Path) -> None:
    """The demo never overwrites or appends to an existing file."""
    out = tmp_path / "taken.log"
    out.write_text("precious\n")
    result = run_cli("demo", "--tasks", "1", "--out", str(out))
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert out.read_text() == "precious\n"


def test_bad_sizes_are_refused() -> None:
    """Sizes below 1 are a usage error (exit status 2), not a crash."""
    result = run_cli("demo", "--workers", "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr


def _line(pid: int, task: str, rec: int, seq: int, *, crc: int | None = None) -> str:
    level = logging.getLevelName(_demo.LEVELS[rec % len(_demo.LEVELS)])
    crc = _demo.checksum(pid, task, rec, seq) if crc is None else crc
    message = _demo.MESSAGE % (pid, task, rec, seq, crc)
    return f"2024-01-01 00:00:00,000 P[{pid}] demo.worker {level} {message}\n"


def test_checker_counts_every_kind_of_damage() -> None:
    """The checker the demo's verdict rests on sees loss, duplicates, damage, strangers and
    reordering, and finds nothing wrong in an intact file."""
    expected = {(7, seq): ("1", seq) for seq in range(4)}
    intact = [_line(7, "1", seq, seq) for seq in range(4)]
    assert _demo.verify(intact, expected).ok
    damaged = [
        intact[1],  # seq 1 before seq 0: out of order
        intact[0],
        intact[0],  # duplicate
        _line(7, "1", 2, 2, crc=0),  # wrong checksum: corrupt (and so seq 2 is lost)
        _line(8, "9", 0, 0),  # nobody logged this
        "a line of the listener's own\n",
    ]
    report = _demo.verify(damaged, expected)
    verdict = report.verdict
    assert not report.ok
    assert (verdict.found, verdict.lost, verdict.duplicated) == (2, 2, 1)
    assert (verdict.corrupt, verdict.unexpected, verdict.reordered) == (1, 1, 1)
    assert report.other_lines == ["a line of the listener's own"]


def test_exit_status_is_1_when_a_record_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If the file read back lacks a record, the demo says so and exits with status 1."""
    real_read = _demo.read_lines
    monkeypatch.setattr(_demo, "read_lines", lambda path: real_read(path)[1:])
    out = tmp_path / "demo.log"
    status = cli_main(["demo", "--workers", "1", "--tasks", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 1
    assert "lost 1," in printed
    assert "FAILED" in printed
