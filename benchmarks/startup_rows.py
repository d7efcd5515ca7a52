"""The suite's start-up section: many spawned workers with little to log each, and what one
spawned worker's start costs mplog over a plain FileHandler.

Measured in the same run as the main table, after it:

- rows: 32 spawned workers x 4,000 records, a file per worker against the mplog variants.
  With so few records each, every worker's start (interpreter, imports, mplog's connection)
  is a large part of the run: users with short-lived workers (``max_tasks_per_child=1``,
  autoscaling pools) see this case;
- the CPU time of each run's whole process tree (main, workers, a listener process), which
  hardly depends on how busy the machine is otherwise, against separate files;
- the start-up-cost column: mplog's extra per spawned worker over a plain ``FileHandler``
  (``benchmarks.startup``: medians of alternating spawns, wall time to the first record
  written and the worker's CPU time; the CPU time hardly depends on the machine's load).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import startup
from benchmarks.harness import Trial, Variant
from benchmarks.report import Cell, collect
from benchmarks.suite import Plan, run_suite
from benchmarks.targets import BASELINE, MPLOG

METHOD = "spawn"
WORKERS = 32
RECORDS = 4000
COLUMNS = (
    "start",
    "workers",
    "records/worker",
    "variant",
    "records/s",
    "spread (min-max)",
    "x separate files",
    "CPU µs/call",
    "tree CPU s (x separate files)",
    "start-up extra ms/worker (wall / CPU)",
    "status",
)


@dataclass
class Section:
    """The rows' trials and the start-up measurement (None, with ``error``, if it failed)."""

    trials: list[Trial]
    cost: startup.StartupCost | None
    error: str = ""
    workers: int = WORKERS
    records: int = RECORDS

    @property
    def cells(self) -> dict[tuple[str, int, str], Cell]:
        """The rows' cells, keyed like the main table's."""
        return collect(self.trials)

    @property
    def ok(self) -> bool:
        """Every mplog row verified and the start-up measurement lost nothing."""
        rows_ok = all(t.ok for t in self.trials if t.variant.startswith("mplog"))
        return rows_ok and self.cost is not None and self.cost.lossless


def run(
    variants: Sequence[Variant],
    reps: int,
    samples: int = startup.SAMPLES,
    progress: Callable[[Trial], None] | None = None,
    workers: int = WORKERS,
    records: int = RECORDS,
) -> Section:
    """Run the rows (the baseline and the mplog variants among ``variants``), then the
    start-up measurement."""
    chosen = [v for v in variants if v.name in (BASELINE, *MPLOG)]
    trials = run_suite(Plan(chosen, [METHOD], [workers], records, reps), progress=progress)
    try:
        return Section(trials, startup.measure_fresh(samples), "", workers, records)
    except (RuntimeError, OSError) as exc:
        return Section(trials, None, str(exc), workers, records)


def _startup_text(section: Section, variant: str) -> str:
    if variant == BASELINE:
        return "(baseline)"
    cost = section.cost
    return "" if cost is None else f"{cost.extra_ms:+.1f} / {cost.extra_cpu_ms:+.1f}"


def rows(section: Section, variants: Sequence[Variant]) -> list[list[str]]:
    """The section's rows, in the variants' order."""
    cells = section.cells
    base = cells.get((METHOD, section.workers, BASELINE))
    result = []
    for variant in variants:
        cell = cells.get((METHOD, section.workers, variant.name))
        if cell is None:
            continue
        head = [METHOD, str(section.workers), f"{section.records:,}", variant.name]
        if not cell.ok:
            result.append([*head, "FAILED", "", "", "", "", "", cell.status()])
            continue
        low, high = cell.spread
        ratio = f"{cell.rate / base.rate:.2f}" if base is not None and base.ok else ""
        cpu = cell.median_of("tree_cpu_s")
        cpu_ratio = f" ({cpu / base.median_of('tree_cpu_s'):.2f})" if base and base.ok else ""
        result.append(
            [
                *head,
                f"{cell.rate:,.0f}",
                f"{low:,.0f}-{high:,.0f}",
                ratio,
                f"{cell.median_of('cpu_us'):.2f}",
                f"{cpu:.2f}{cpu_ratio}",
                _startup_text(section, variant.name),
                cell.status(),
            ]
        )
    return result


def phase_lines(section: Section) -> list[str]:
    """The start-up measurement, phase by phase, as Markdown."""
    cost = section.cost
    if cost is None:
        return [f"The start-up measurement failed: {section.error}"]
    lines = [
        "| phase (median ms) | FileHandler | mplog | extra |",
        "|---|---|---|---|",
    ]
    for phase, file_ms, mplog_ms in cost.rows():
        name = "worker CPU time" if phase == "cpu" else phase
        lines.append(f"| {name} | {file_ms:.2f} | {mplog_ms:.2f} | {mplog_ms - file_ms:+.2f} |")
    lines += [
        "",
        f"{cost.samples} spawned workers of each kind, alternating (`python -m "
        f"benchmarks.startup`); every mplog worker's record reached the file: "
        f"{'yes' if cost.lossless else f'**no**, {cost.records_found}/{cost.samples}'}. "
        f"The listener's CPU time per new worker (accept, hello, pipe, one record, goodbye): "
        f"{cost.listener_cpu_ms:.2f} ms, in the listener, not in the worker's start.",
    ]
    return lines


def markdown(section: Section, variants: Sequence[Variant]) -> list[str]:
    """The whole section of the Markdown report."""
    table = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(row) + " |" for row in rows(section, variants)),
    ]
    return [
        "## Spawned workers' start-up",
        "",
        *table,
        "",
        "What one spawned worker's start costs, from `start()` to its first record written:",
        "",
        *phase_lines(section),
    ]


def text(section: Section, variants: Sequence[Variant]) -> str:
    """The section for the console."""
    table = [list(COLUMNS), *rows(section, variants)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    if section.cost is not None:
        lines += ["", *section.cost.lines()]
    else:
        lines += ["", f"start-up measurement failed: {section.error}"]
    return "\n".join(line.rstrip() for line in lines)
