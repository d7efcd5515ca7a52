"""The engine benchmarks' machinery (benchmarks/engines) on a tiny size: runs verify, losses
are counted as losses, never as speed. No timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.engines import cli
from benchmarks.engines.common import Result, benchmark_lines, wait_for_lines
from benchmarks.verify import verify
from mplog._checking import Verdict

RECORDS = 300


def test_result_does_not_count_what_a_killed_worker_never_logged() -> None:
    verdict = Verdict(expected=20, found=12, lost=8)  # 5 never logged, 3 lost
    result = Result.of("x", True, 2, 10, 2.0, verdict, never_logged=5)
    assert (result.expected, result.found, result.lost, result.problems) == (15, 12, 3, "")
    assert result.rate == 6.0
    damaged = Result.of("x", False, 2, 10, 1.0, Verdict(expected=20, found=20, corrupt=1))
    assert damaged.problems == "1 corrupt"


def test_benchmark_lines_keep_only_the_workloads_records(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_bytes(
        b"2026-01-01 00:00:00,000 1 P bench.worker INFO task 0 step 0 value 0.000 payload=x\n"
        b"2026-01-01 00:00:00,000 1 P mplog WARNING process 9 ended without closing\n"
    )
    assert benchmark_lines(path).read_bytes().count(b"\n") == 1
    assert wait_for_lines(path, 2, quiet=0.1) > 0


def test_ray_prefixes_are_stripped(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (no wheel for this Python)")
    from benchmarks.engines.ray_runs import stripped

    path = tmp_path / "driver.out"
    path.write_bytes(b"\x1b[36m(work pid=12)\x1b[0m line one\n(work pid=13, ip=10.0.0.1) two\n")
    assert stripped(path).read_bytes() == b"line one\ntwo\n"


@pytest.mark.parametrize("variant", ["dask-mplog", "dask-forward_logging"])
@pytest.mark.parametrize("kill", [False, True])
def test_dask_trials_verify(tmp_path: Path, variant: str, kill: bool) -> None:
    pytest.importorskip("distributed", reason="dask.distributed is not installed (mplog[dask])")
    from benchmarks.engines import dask_runs

    result = dask_runs.trial(variant, tmp_path, 2, RECORDS, kill)
    assert result.problems == ""
    assert result.expected == (RECORDS + RECORDS // 2 if kill else 2 * RECORDS)
    assert result.found + result.lost == result.expected
    if variant == "dask-mplog":
        assert result.lost == 0, "mplog loses nothing a killed worker logged"
    lines = benchmark_lines(tmp_path / f"{variant}-{'kill' if kill else 'run'}.log")
    assert verify([lines], 2, RECORDS).found == result.found


def test_cli_writes_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed", reason="dask.distributed is not installed (mplog[dask])")
    args = ["--engines", "dask", "--variants", "dask-mplog", "--records", "100", "--reps", "1"]
    status = cli.main([*args, "--out", str(tmp_path)])
    assert status == 0
    (table,) = tmp_path.glob("engines-*.md")
    text = table.read_text("utf-8")
    assert "| dask-mplog | all records |" in text and "| dask-mplog | worker killed |" in text
    assert "forward_logging" not in text
    assert "0 of 150" in text
    (data,) = tmp_path.glob("engines-*.json")
    capsys.readouterr()
    assert cli.main(["--report", str(data)]) == 0
    assert capsys.readouterr().out.strip() == cli.table(cli.load(data))
