"""mplog's performance targets, checked against a suite's cells.

1. End-to-end throughput at least that of separate files (a plain FileHandler per worker)
   at 2 and 8 workers.
2. Worker CPU per logging call no more than the plain FileHandler's (every worker count).
3. Peak memory of the process tree at 8 workers within 50 MB of separate files.
4. Throughput at 32 workers at least 80% of that at 2.
5. 32 spawned workers x 4,000 records each at least as fast as separate files (the suite's
   start-up section, ``benchmarks.startup_rows``).
6. A spawned worker's start costs at most 5 ms more than with a plain FileHandler (median
   wall time to its first record written, and its CPU time).

The destination variants (issue 14: JSON lines, a handler pair, a dictConfig, a rotating
file) are held to 1. and 2. against the baseline with the same formatter: a JSON file per
worker for ``mplog-json``, a plain text file per worker for the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.report import Cell
from benchmarks.startup import StartupCost

BASELINE = "separate-files"
MPLOG = ("mplog-thread", "mplog-process", "mplog-pool")
#: The destination variants (their ``-records`` twins are the record path, not held to it).
DESTINATIONS = ("mplog-json", "mplog-handlers", "mplog-dictconfig", "mplog-rotating")
#: A variant's baseline when it is not ``BASELINE``.
BASELINES = {"mplog-json": "separate-files-json"}
TARGET_COLUMNS = ("target", "start", "variant", "measured", "goal", "met")

Cells = dict[tuple[str, int, str], Cell]


@dataclass(frozen=True)
class Check:
    """One target for one mplog variant and start method."""

    target: str
    method: str
    variant: str
    measured: str
    goal: str
    met: bool | None  # None: not measurable (a cell missing or failed)

    def row(self) -> list[str]:
        """The check as table cells."""
        met = {True: "yes", False: "**no**", None: "n/a"}[self.met]
        return [self.target, self.method, self.variant, self.measured, self.goal, met]


def _ok(cells: Cells, method: str, workers: int, variant: str) -> Cell | None:
    cell = cells.get((method, workers, variant))
    return cell if cell is not None and cell.ok else None


def _throughput(cells: Cells, method: str, variant: str) -> Iterator[Check]:
    baseline = BASELINES.get(variant, BASELINE)
    for workers in (2, 8):
        ours, base = _ok(cells, method, workers, variant), _ok(cells, method, workers, baseline)
        against = "separate files" if baseline == BASELINE else baseline
        target = f"throughput vs {against}, {workers} workers"
        if ours is None or base is None:
            yield Check(target, method, variant, "", ">= 1.00x", None)
            continue
        ratio = ours.rate / base.rate
        yield Check(target, method, variant, f"{ratio:.2f}x", ">= 1.00x", ratio >= 1.0)


def _cpu(cells: Cells, method: str, variant: str, sizes: list[int]) -> Iterator[Check]:
    ratios = []
    baseline = BASELINES.get(variant, BASELINE)
    for workers in sizes:
        ours, base = _ok(cells, method, workers, variant), _ok(cells, method, workers, baseline)
        if ours is not None and base is not None:
            ratios.append(ours.median_of("cpu_us") / base.median_of("cpu_us"))
    target = "worker CPU/call vs FileHandler (worst size)"
    if not ratios:
        yield Check(target, method, variant, "", "<= 1.00x", None)
        return
    worst = max(ratios)
    yield Check(target, method, variant, f"{worst:.2f}x", "<= 1.00x", worst <= 1.0)


def _memory(cells: Cells, method: str, variant: str) -> Iterator[Check]:
    ours, base = _ok(cells, method, 8, variant), _ok(cells, method, 8, BASELINE)
    target = "peak memory vs separate files, 8 workers"
    if ours is None or base is None:
        yield Check(target, method, variant, "", "<= +50 MB", None)
        return
    extra = ours.median_of("peak_mb") - base.median_of("peak_mb")
    yield Check(target, method, variant, f"{extra:+.1f} MB", "<= +50 MB", extra <= 50)


def _scaling(cells: Cells, method: str, variant: str) -> Iterator[Check]:
    big, small = _ok(cells, method, 32, variant), _ok(cells, method, 2, variant)
    target = "throughput 32 workers / 2 workers"
    if big is None or small is None:
        yield Check(target, method, variant, "", ">= 0.80", None)
        return
    ratio = big.rate / small.rate
    yield Check(target, method, variant, f"{ratio:.2f}", ">= 0.80", ratio >= 0.8)


def checks(cells: Cells) -> list[Check]:
    """Every target for every mplog variant and start method present in ``cells``."""
    methods = sorted({method for method, _, _ in cells})
    sizes = sorted({workers for _, workers, _ in cells})
    variants = [v for v in MPLOG if any(key[2] == v for key in cells)]
    if not any(key[2] in (BASELINE, *BASELINES.values()) for key in cells):
        return []
    result: list[Check] = []
    for method in methods:
        for variant in variants:
            result += _throughput(cells, method, variant)
            result += _cpu(cells, method, variant, sizes)
            result += _memory(cells, method, variant)
            result += _scaling(cells, method, variant)
        for variant in [v for v in DESTINATIONS if any(key[2] == v for key in cells)]:
            result += _throughput(cells, method, variant)
            result += _cpu(cells, method, variant, sizes)
    return result


#: mplog's extra start-up per spawned worker, over a plain FileHandler (target 6).
STARTUP_GOAL_MS = 5.0


def startup_checks(
    cells: Cells, cost: StartupCost | None, workers: int = 32, records: int = 4000
) -> list[Check]:
    """Targets 5 and 6, from the start-up section's cells (spawn, ``workers`` workers) and
    its start-up measurement."""
    result = []
    target = f"{workers} spawned workers x {records:,} records vs separate files"
    for variant in MPLOG:
        if any(key[2] == variant for key in cells):
            ours = _ok(cells, "spawn", workers, variant)
            base = _ok(cells, "spawn", workers, BASELINE)
            if ours is None or base is None:
                result.append(Check(target, "spawn", variant, "", ">= 1.00x", None))
                continue
            ratio = ours.rate / base.rate
            result.append(Check(target, "spawn", variant, f"{ratio:.2f}x", ">= 1.00x", ratio >= 1))
    goal = f"<= +{STARTUP_GOAL_MS:.0f} ms"
    for what in ("wall", "CPU"):
        target = f"start-up extra per spawned worker ({what}, median)"
        if cost is None:
            result.append(Check(target, "spawn", "mplog initializer", "", goal, None))
            continue
        extra = cost.extra_ms if what == "wall" else cost.extra_cpu_ms
        met = extra <= STARTUP_GOAL_MS and cost.lossless
        result.append(Check(target, "spawn", "mplog initializer", f"{extra:+.2f} ms", goal, met))
    return result
