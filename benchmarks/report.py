"""Turn trials into the results: a console table, a Markdown report, a PNG plot.

Every cell (variant x start method x worker count) reports medians over its repetitions. A
cell with any failed repetition is reported as FAILED with what was wrong, never as a speed.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import Trial, Variant, median

COLUMNS = (
    "start",
    "workers",
    "variant",
    "records/s",
    "spread (min-max)",
    "x cookbook",
    "CPU µs/call",
    "listener µs/rec",
    "p99 µs",
    "peak MB",
    "lost",
    "corrupt",
    "status",
)


@dataclass
class Cell:
    """All repetitions of one variant at one start method and worker count."""

    variant: str
    method: str
    workers: int
    trials: list[Trial] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every repetition verified."""
        return bool(self.trials) and all(trial.ok for trial in self.trials)

    @property
    def rate(self) -> float:
        """Median records/s."""
        return median([trial.rate for trial in self.trials])

    @property
    def spread(self) -> tuple[float, float]:
        """Lowest and highest records/s of the repetitions."""
        rates = [trial.rate for trial in self.trials]
        return min(rates), max(rates)

    def median_of(self, attribute: str) -> float:
        """Median of a per-trial measurement (``cpu_us``, ``p99_us``, ``peak_mb``)."""
        return median([getattr(trial, attribute) for trial in self.trials])

    def worst(self, attribute: str) -> int:
        """Largest count of a verification problem (``lost``, ``corrupt``) over repetitions."""
        return max((getattr(t.verdict, attribute) for t in self.trials if t.verdict), default=0)

    def status(self) -> str:
        """The cell's status: "ok", or FAILED with the first failing repetition's problems."""
        if self.ok:
            return "ok"
        failed = [trial for trial in self.trials if not trial.ok]
        return f"FAILED {len(failed)}/{len(self.trials)}: {failed[0].problems()}"


def collect(trials: Iterable[Trial]) -> dict[tuple[str, int, str], Cell]:
    """Group trials into cells keyed by (method, workers, variant)."""
    cells: dict[tuple[str, int, str], Cell] = {}
    for trial in trials:
        key = (trial.method, trial.workers, trial.variant)
        cells.setdefault(key, Cell(trial.variant, trial.method, trial.workers)).trials.append(trial)
    return cells


def rows(
    cells: dict[tuple[str, int, str], Cell], variants: Sequence[Variant], reference: str
) -> list[list[str]]:
    """The table's rows, in (method, workers, variant order) order, as text."""
    order = {variant.name: index for index, variant in enumerate(variants)}
    result = []
    for key in sorted(cells, key=lambda k: (k[0], k[1], order.get(k[2], 99))):
        base = cells.get((key[0], key[1], reference))
        result.append(_row(cells[key], base))
    return result


def _row(cell: Cell, base: Cell | None) -> list[str]:
    lost, corrupt = cell.worst("lost"), cell.worst("corrupt")
    head = [cell.method, str(cell.workers), cell.variant]
    tail = [str(lost), str(corrupt), cell.status()]
    if not cell.ok:
        return [*head, "FAILED", "", "", "", "", "", "", *tail]
    low, high = cell.spread
    ratio = f"{cell.rate / base.rate:.2f}" if base is not None and base.ok else ""
    measures = [
        f"{cell.rate:,.0f}",
        f"{low:,.0f}-{high:,.0f}",
        ratio,
        f"{cell.median_of('cpu_us'):.2f}",
        f"{listener:.2f}" if (listener := cell.median_of("listener_cpu_us")) else "",
        f"{cell.median_of('p99_us'):,.0f}",
        f"{cell.median_of('peak_mb'):.1f}",
    ]
    return [*head, *measures, *tail]


def text_table(table: list[list[str]]) -> str:
    """An aligned plain-text table."""
    widths = [max(len(row[i]) for row in [list(COLUMNS), *table]) for i in range(len(COLUMNS))]
    numeric = {1, 3, 4, 5, 6, 7, 8, 9, 10, 11}

    def line(row: Sequence[str]) -> str:
        cells = [
            text.rjust(width) if index in numeric else text.ljust(width)
            for index, (text, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *map(line, table)])


def markdown_table(table: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def noise_statement(cells: Iterable[Cell]) -> str:
    """How much the repetitions of a cell disagree: the machine-noise statement."""
    spreads = []
    for cell in cells:
        if cell.ok and len(cell.trials) > 1 and cell.rate:
            low, high = cell.spread
            spreads.append(((high - low) / cell.rate, cell))
    if not spreads:
        return "Noise: one repetition per cell, no spread to report."
    spreads.sort(key=lambda item: item[0])
    middle = spreads[len(spreads) // 2][0]
    worst, cell = spreads[-1]
    return (
        f"Noise: (max-min)/median of records/s over the repetitions of a cell is "
        f"{middle:.0%} for the median cell and {worst:.0%} at worst "
        f"({cell.variant}, {cell.method}, {cell.workers} workers); differences smaller "
        f"than that are not findings."
    )


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    return {
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def title(records: int) -> str:
    """The plot title: what ran, on what."""
    info = machine()
    return (
        f"mplog benchmarks: {records:,} records per worker, "
        f"{info['cores']} cores, Python {info['python']}"
    )


def plot(cells: Sequence[Cell], variants: Sequence[Variant], records: int, path: Path) -> bool:
    """Records/s against workers, one line per variant, a panel per start method.

    Failed cells are left out of their line. Returns False when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    methods = sorted({cell.method for cell in cells})
    figure, axes = plt.subplots(1, len(methods), figsize=(7 * len(methods), 5.5), squeeze=False)
    for axis, method in zip(axes[0], methods, strict=True):
        _plot_method(axis, [c for c in cells if c.method == method], variants, method)
    figure.suptitle(title(records) + " (failed runs omitted)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _plot_method(axis: object, cells: list[Cell], variants: Sequence[Variant], method: str) -> None:
    for index, variant in enumerate(variants):
        points = sorted((c.workers, c.rate) for c in cells if c.variant == variant.name and c.ok)
        if points:
            style = "-" if variant.name.startswith("mplog") else "--"
            marker = "os^vD<>ph*"[index % 10]
            xs, ys = zip(*points, strict=True)
            color = f"C{index % 10}"  # the same colour for a variant in every panel
            axis.plot(xs, ys, style, marker=marker, color=color, label=variant.name)  # type: ignore[attr-defined]
    workers = sorted({cell.workers for cell in cells})
    axis.set_xscale("log", base=2)  # type: ignore[attr-defined]
    axis.set_xticks(workers, [str(n) for n in workers])  # type: ignore[attr-defined]
    axis.set_yscale("log")  # type: ignore[attr-defined]
    axis.set_xlabel("worker processes")  # type: ignore[attr-defined]
    axis.set_ylabel("records/s, end to end (median)")  # type: ignore[attr-defined]
    axis.set_title(f"start method: {method}")  # type: ignore[attr-defined]
    axis.grid(True, which="both", alpha=0.3)  # type: ignore[attr-defined]
    axis.legend(fontsize="small", framealpha=0.6)  # type: ignore[attr-defined]


def command_line() -> str:
    """How this run was started."""
    return " ".join(["python -m benchmarks", *sys.argv[1:]])
