"""The benchmark suite's machinery on a tiny size (2 workers x 200 records, one repetition).

Benchmarks are never timed assertions: these tests only prove that the suite runs, that
correct output passes its verification, and that damaged output is reported as a failure
with its lost/corrupt counts rather than as a speed. Variants whose optional package is not
installed are skipped.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import (
    call_cost,
    cli,
    flush_interval,
    listener_cpu,
    report,
    segments,
    spawn_phases,
    startup,
    startup_rows,
    targets,
)
from benchmarks.harness import Trial, Variant, run_trial
from benchmarks.memory import PeakTreeMemory
from benchmarks.suite import Plan, run_suite
from benchmarks.variants import ALL, REFERENCE, by_name, destinations

WORKERS = 2
RECORDS = 200


def _variant(name: str) -> Variant:
    """The variant called ``name``, skipping the test if its package is missing."""
    (variant,) = by_name([name])
    if variant.requires is not None:
        pytest.importorskip(variant.requires)
    return variant


@pytest.mark.parametrize("name", ["cookbook-thread", "separate-files", "mplog-thread", "loguru"])
def test_variant_output_verifies(name: str) -> None:
    """One tiny run of each of these variants finishes and its output verifies."""
    trial = run_trial(_variant(name), "fork", WORKERS, RECORDS)
    assert trial.ok, trial.problems()
    assert trial.verdict is not None
    assert trial.verdict.found == trial.verdict.expected == WORKERS * RECORDS
    assert trial.rate > 0 and trial.cpu_us > 0 and trial.p99_us > 0


@pytest.mark.parametrize("name", ["serve-tcp", "serve-tls", "socket-cookbook", "mplog-process"])
def test_listener_program_variants_verify_and_measure_the_listener(name: str) -> None:
    """The network variants (mplog serve over TCP and TLS, the cookbook's receiver) and
    the listener process verify, and report the listener program's CPU per record."""
    if name == "serve-tls" and shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    trial = run_trial(_variant(name), "fork", WORKERS, RECORDS)
    assert not trial.error and trial.verdict is not None, trial.problems()
    if name == "socket-cookbook":
        # The stdlib's SocketHandler drops what it logs while its connection is failing
        # (and its retry wait runs): under load in CI it lost a worker's 200 records once.
        # The suite reports such losses; only what arrived must be intact and in order.
        assert 0 < trial.verdict.found == WORKERS * RECORDS - trial.verdict.lost
        verdict = trial.verdict
        assert verdict.corrupt == verdict.reordered == verdict.duplicated == 0, trial.problems()
    else:
        assert trial.ok, trial.problems()
    assert trial.listener_cpu_us > 0


def test_mplog_process_listener_under_spawn_verifies() -> None:
    """mplog with a listener process and spawned workers passes verification too."""
    trial = run_trial(_variant("mplog-process"), "spawn", WORKERS, RECORDS)
    assert trial.ok, trial.problems()


def test_suite_runs_and_reports_every_cell() -> None:
    """The suite runs every variant of a plan and the report shows each cell as verified."""
    variants = [_variant("cookbook-thread"), _variant("mplog-pool")]
    trials = run_suite(Plan(variants, ["fork"], [WORKERS], RECORDS, 1))
    assert [t.variant for t in trials] == ["cookbook-thread", "mplog-pool"]
    assert all(t.ok for t in trials), [t.problems() for t in trials]
    rows = report.rows(report.collect(trials), variants, REFERENCE)
    assert [row[-1] for row in rows] == ["ok", "ok"]
    assert rows[0][5] == "1.00"  # the reference against itself


def test_command_line_writes_the_markdown_report(tmp_path: Path) -> None:
    """``python -m benchmarks`` with tiny sizes exits 0 and writes the Markdown table."""
    sizes = ["--workers", str(WORKERS), "--records", str(RECORDS), "--reps", "1"]
    chosen = ["--methods", "fork", "--variants", "cookbook-thread,mplog-thread"]
    status = cli.main([*sizes, *chosen, "--out", str(tmp_path), "--no-plot"])
    assert status == 0
    (markdown,) = tmp_path.glob("*.md")
    text = markdown.read_text(encoding="utf-8")
    assert "| fork | 2 | mplog-thread |" in text
    assert "FAILED" not in text


def _drop_line(files: list[Path]) -> None:
    lines = files[0].read_bytes().splitlines(keepends=True)
    del lines[10]
    files[0].write_bytes(b"".join(lines))


def _tear_line(files: list[Path]) -> None:
    lines = files[0].read_bytes().splitlines(keepends=True)
    lines[20] = lines[20][: len(lines[20]) // 2] + b"\n"
    files[0].write_bytes(b"".join(lines))


def _duplicate_line(files: list[Path]) -> None:
    lines = files[0].read_bytes().splitlines(keepends=True)
    files[0].write_bytes(b"".join([*lines, lines[5]]))


def _swap_lines(files: list[Path]) -> None:
    lines = files[0].read_bytes().splitlines(keepends=True)
    task = lines[0].split(b" task ")[1].split()[0]
    same = [i for i, line in enumerate(lines) if line.split(b" task ")[1].split()[0] == task]
    first, second = same[3], same[7]
    lines[first], lines[second] = lines[second], lines[first]
    files[0].write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_drop_line, "lost"),
        (_tear_line, "corrupt"),
        (_duplicate_line, "duplicated"),
        (_swap_lines, "reordered"),
    ],
)
def test_damaged_output_is_reported_as_failed(
    damage: Callable[[list[Path]], None], problem: str
) -> None:
    """A deliberately damaged log file fails verification, with the problem counted, and
    the report shows the cell as FAILED instead of a records/s figure."""
    trial = run_trial(_variant("mplog-thread"), "fork", WORKERS, RECORDS, tamper=damage)
    assert not trial.ok
    assert trial.verdict is not None
    assert getattr(trial.verdict, problem) >= 1
    assert problem in trial.problems()
    (row,) = report.rows(report.collect([trial]), ALL, REFERENCE)
    assert row[3] == "FAILED" and row[-1].startswith("FAILED")


def test_lost_records_are_a_failure_not_a_speed() -> None:
    """A run that loses records (multiprocessing-logging under spawn) is a failure."""
    trial = run_trial(_variant("mp-logging"), "spawn", WORKERS, RECORDS)
    assert not trial.ok
    assert trial.verdict is not None and trial.verdict.lost == WORKERS * RECORDS


def _failed_trial() -> Trial:
    return Trial("x", "fork", 2, 10, 0, seconds=1.0, error="RuntimeError: boom")


def test_a_variant_that_raises_is_failed() -> None:
    """A run that raised reports its error as the failure."""
    assert not _failed_trial().ok
    assert _failed_trial().problems() == "RuntimeError: boom"


def _hold_memory(megabytes: int, seconds: float) -> None:
    block = bytearray(megabytes * 1_000_000)
    block[::4096] = b"x" * len(block[::4096])  # touch every page, so it is resident
    time.sleep(seconds)


def test_peak_memory_counts_children_and_adds_no_thread() -> None:
    """The sampler sees a child's allocation in the tree's peak, and it runs outside the
    measured process: no thread is added to it while it measures."""
    threads = threading.active_count()
    with PeakTreeMemory(interval=0.01) as memory:
        assert threading.active_count() == threads
        child = multiprocessing.get_context("spawn").Process(target=_hold_memory, args=(60, 1.0))
        child.start()
        child.join(30)
        assert child.exitcode == 0
    assert memory.peak_mb >= 50, memory.peak_mb


def test_startup_cost_is_measured_and_lossless() -> None:
    """The start-up measurement spawns both kinds, times every phase, loses no mplog record,
    and survives its JSON round trip (how the suite gets it from a fresh interpreter)."""
    cost = startup.measure(samples=2)
    assert cost.lossless and cost.samples == 2
    assert [row[0] for row in cost.rows()] == ["start", "setup", "first", "total", "cpu"]
    assert all(file_ms > 0 and mplog_ms > 0 for _, file_ms, mplog_ms in cost.rows())
    assert cost.listener_cpu_ms > 0
    again = startup.StartupCost.from_json(cost.to_json())
    assert again.extra_ms == cost.extra_ms and again.extra_cpu_ms == cost.extra_cpu_ms


def test_startup_section_reports_rows_and_checks() -> None:
    """The start-up section runs its rows (here tiny), measures the start-up in a fresh
    interpreter, and its report and target checks cover each mplog variant."""
    variants = [_variant("separate-files"), _variant("mplog-thread")]
    section = startup_rows.run(variants, reps=1, samples=2, workers=WORKERS, records=RECORDS)
    assert section.ok, (section.error, [t.problems() for t in section.trials])
    table = startup_rows.rows(section, variants)
    assert [row[3] for row in table] == ["separate-files", "mplog-thread"]
    assert table[0][9] == "(baseline)" and table[1][9].count("/") == 1
    assert table[0][8].endswith("(1.00)")
    assert "## Spawned workers' start-up" in startup_rows.markdown(section, variants)
    checks = targets.startup_checks(section.cells, section.cost, WORKERS, RECORDS)
    assert [c.variant for c in checks] == ["mplog-thread", "mplog initializer", "mplog initializer"]
    assert all(c.met is not None for c in checks)
    assert all(c.met is None for c in targets.startup_checks(section.cells, None)[-2:])


DESTINATION_VARIANTS = [v.name for v in destinations.VARIANTS]


@pytest.mark.parametrize("name", DESTINATION_VARIANTS)
def test_destination_variants_verify(name: str) -> None:
    """Every destination variant (issue 14) and its record-path twin writes output that
    verifies: JSON lines are checked field by field, rotated files in order."""
    trial = run_trial(_variant(name), "fork", WORKERS, RECORDS)
    assert trial.ok, trial.problems()
    assert trial.verdict is not None and trial.verdict.found == WORKERS * RECORDS


def _damage_json(files: list[Path]) -> None:
    lines = files[0].read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"message":"task', b'"message":"tusk')
    del lines[7]
    files[0].write_bytes(b"".join(lines))


def test_damaged_json_lines_fail() -> None:
    """A JSON line whose message is altered is corrupt, a missing one lost."""
    trial = run_trial(_variant("mplog-json"), "fork", WORKERS, RECORDS, tamper=_damage_json)
    assert trial.verdict is not None
    assert not trial.ok and trial.verdict.corrupt == 1 and trial.verdict.lost == 2


def test_targets_hold_destinations_to_their_baseline(tmp_path: Path) -> None:
    """The targets table checks the JSON variant against a JSON file per worker."""
    sizes = ["--workers", str(WORKERS), "--records", str(RECORDS), "--reps", "1"]
    chosen = ["--methods", "fork", "--variants", "separate-files-json,mplog-json"]
    assert cli.main([*sizes, *chosen, "--out", str(tmp_path), "--no-plot"]) == 0
    (markdown,) = tmp_path.glob("*.md")
    text = markdown.read_text(encoding="utf-8")
    assert "| throughput vs separate-files-json, 2 workers | fork | mplog-json |" in text


def test_listener_cpu_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.listener_cpu`` measures both paths of every destination."""
    listener_cpu.main(["--records", "300", "--reps", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 * len(listener_cpu.DESTINATIONS)
    worker, listener = listener_cpu.measure("json", False, 300)
    assert worker > 0 and listener > 0
    listener_cpu.main(
        ["--records", "300", "--reps", "1", "--only", "handlers", "--levels", "INFO,WARNING"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| handl")]
    assert len(rows) == 2  # records of two levels, a WARNING reaching both files


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_call_cost_measures_both_kinds(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.call_cost`` times whole logging calls of mplog and of a
    FileHandler with the same formatter; every mplog call's record reaches its file."""
    call_cost.main(["--calls", "200", "--rounds", "1", "--format", fmt])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{fmt}: mplog ") and " ratio " in line and "MISSED" not in line
    ours, own, complete = call_cost.measure(fmt == "json", 200, 2)
    assert ours > 0 and own > 0 and complete
    assert not logging.getLogger("bench.own").handlers


@pytest.mark.skipif(not flush_interval.cork.AVAILABLE, reason="no TCP_CORK on this platform")
def test_flush_interval_runs_every_value_lossless(capsys: pytest.CaptureFixture[str]) -> None:
    """Each FLUSH_LATEST value runs senders into mplog serve; a lost record would raise."""
    options = ["--senders", "2", "--records", "100", "--reps", "1", "--latest", "0.02,60"]
    flush_interval.main(options)
    out = capsys.readouterr().out
    assert "FLUSH_LATEST 0.02 s:" in out and "FLUSH_LATEST 60 s:" in out


@pytest.mark.skipif(not flush_interval.cork.AVAILABLE, reason="no TCP_CORK on this platform")
def test_segments_counts_both_ways_lossless(capsys: pytest.CaptureFixture[str]) -> None:
    """Corked and not, senders log into a listener; a lost record would raise."""
    segments.main(["--senders", "2", "--records", "200"])
    out = capsys.readouterr().out
    assert "not corked (TCP_NODELAY alone):" in out and "\ncorked:" in out


def test_spawn_phases_splits_each_kind_by_phase(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.spawn_phases`` runs every kind (checking nothing was lost) and
    prints each phase's CPU per worker, with the difference to a file per worker."""
    table = spawn_phases.measure(workers=2, records=50, reps=1)
    assert set(table) == set(spawn_phases.KINDS)
    for kind, row in table.items():
        assert row["start"] > 0 and row["log"] > 0 and row["exit"] > 0, (kind, row)
    assert table["mplog-process"]["listener"] > 0 == table["mplog-thread"]["listener"]
    assert table["separate-files"]["speed"] == (1.0, 1.0, 1.0)
    assert all(low <= mid <= high for mid, low, high in (table[k]["cpu"] for k in table))
    spawn_phases.main(["--workers", "2", "--records", "20", "--reps", "1"])
    out = capsys.readouterr().out
    assert all(f"| {kind} |" in out for kind in spawn_phases.KINDS)
