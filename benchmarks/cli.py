"""Command line of the suite: parse options, run the plan, print and write the results.

``python -m benchmarks`` runs the full suite; ``--quick`` a smoke run of under a minute.
Results go to ``benchmarks/results/``: ``<stamp>.md`` (the table and the target checks),
``<stamp>.png`` (records/s against workers), ``<stamp>.json`` (every trial) and, with the
start-up section, ``<stamp>-startup.json``.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report, startup_rows, targets
from benchmarks.harness import Trial
from benchmarks.suite import Plan, check_methods, run_suite
from benchmarks.variants import ALL, REFERENCE, by_name

RESULTS = Path(__file__).resolve().parent / "results"
#: Defaults of the full run: about 13 minutes on the 2-core reference machine.
FULL = {"workers": "1,2,8,32", "records": 14000, "reps": 3}
#: Defaults of --quick: well under a minute.
QUICK = {"workers": "2,8", "records": 500, "reps": 1}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Options; sizes left unset take the full or the quick defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark mplog against the alternatives; every run is verified.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--workers", help=f"worker counts (default {FULL['workers']})")
    parser.add_argument("--records", type=int, help=f"records per worker ({FULL['records']})")
    parser.add_argument("--reps", type=int, help=f"repetitions per cell ({FULL['reps']})")
    parser.add_argument("--methods", default="fork,spawn", help="start methods (fork,spawn)")
    parser.add_argument("--variants", help="variants to run (default: all installed)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    parser.add_argument(
        "--no-startup",
        action="store_true",
        help="skip the start-up section (32 spawned workers x 4,000 records, and the start-up "
        "cost of one spawned worker); it runs when spawn is among the methods",
    )
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    """The plan the options describe; uninstalled variants are skipped with a message."""
    chosen = by_name(args.variants.split(",")) if args.variants else list(ALL)
    missing = [variant for variant in chosen if not variant.available()]
    for variant in missing:
        print(f"skipped {variant.name}: `{variant.requires}` is not installed (pip install)")
    methods = [m for m in args.methods.split(",") if m]
    check_methods(methods)
    workers = [int(n) for n in str(args.workers).split(",") if n]
    variants = [variant for variant in chosen if variant not in missing]
    return Plan(variants, methods, workers, args.records, args.reps)


def progress_line(trial: Trial) -> str:
    """One line per finished trial."""
    head = f"rep {trial.rep} {trial.method:5} {trial.workers:>2} workers {trial.variant:24}"
    if not trial.ok:
        return f"{head} FAILED: {trial.problems()}"
    return f"{head} {trial.rate:>10,.0f} rec/s {trial.seconds:6.2f} s  ok"


def list_variants() -> None:
    """Print every variant with its description and availability."""
    for variant in ALL:
        state = "" if variant.available() else f"  [needs {variant.requires}]"
        note = f" ({variant.note})" if variant.note else ""
        print(f"{variant.name:24} {variant.title}{note}{state}")


def write_results(
    args: argparse.Namespace,
    plan: Plan,
    trials: list[Trial],
    wall: float,
    section: startup_rows.Section | None = None,
) -> tuple[str, list[Path]]:
    """Print the tables; write the Markdown report, the plot and the raw trials."""
    cells = report.collect(trials)
    table = report.rows(cells, plan.variants, REFERENCE)
    noise = report.noise_statement(cells.values())
    print("\n" + report.text_table(table) + "\n\n" + noise)
    if section is not None:
        print("\n" + startup_rows.text(section, plan.variants))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    base = args.out / stem
    written = [base.with_suffix(".md"), base.with_suffix(".json")]
    checks = targets.checks(cells)
    extra: list[str] = []
    if section is not None:
        checks += targets.startup_checks(
            section.cells, section.cost, section.workers, section.records
        )
        extra = startup_rows.markdown(section, plan.variants)
        written.append(base.with_name(base.name + "-startup.json"))
        startup_raw = {
            "trials": [dataclasses.asdict(trial) for trial in section.trials],
            "cost": None if section.cost is None else dataclasses.asdict(section.cost),
        }
        written[-1].write_text(json.dumps(startup_raw, indent=1), encoding="utf-8")
    markdown = render_markdown(plan, table, noise, checks, wall, extra)
    written[0].write_text(markdown, encoding="utf-8")
    raw = [dataclasses.asdict(trial) for trial in trials]
    written[1].write_text(json.dumps(raw, indent=1), encoding="utf-8")
    if not args.no_plot:
        png = base.with_suffix(".png")
        if report.plot(list(cells.values()), plan.variants, plan.records, png):
            written.append(png)
        else:
            print("no plot: matplotlib is not installed")
    return markdown, written


def render_markdown(
    plan: Plan,
    table: list[list[str]],
    noise: str,
    checks: list[targets.Check],
    wall: float,
    extra: Sequence[str] = (),
) -> str:
    """The whole Markdown report."""
    info = report.machine()
    lines = [
        f"# mplog benchmarks, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"- command: `{report.command_line()}` (wall time {wall / 60:.1f} min)",
        f"- machine: {info['cores']} cores ({info['cpu']}), {info['system']}, "
        f"{info['implementation']} {info['python']}",
        f"- workload: N workers x {plan.records:,} records each, {plan.reps} repetitions "
        "per cell, medians shown; every run verified (lines, format, loss, duplicates, order)",
        "",
        "Variants: " + "; ".join(f"`{v.name}`: {v.title}" for v in plan.variants) + ".",
        "",
        report.markdown_table(table),
        "",
        noise,
    ]
    if extra:
        lines += ["", *extra]
    if checks:
        lines += ["", "## mplog targets", "", _targets_table(checks)]
    return "\n".join(lines) + "\n"


def _targets_table(checks: list[targets.Check]) -> str:
    head = "| " + " | ".join(targets.TARGET_COLUMNS) + " |"
    rule = "|" + "---|" * len(targets.TARGET_COLUMNS)
    return "\n".join([head, rule, *("| " + " | ".join(c.row()) + " |" for c in checks)])


def compile_bytecode() -> None:
    """Compile mplog and the suite to bytecode, as ``pip install`` does for every package.

    An editable install has no bytecode, and where ``PYTHONDONTWRITEBYTECODE`` is set none is
    ever written: every spawned worker would then compile mplog from source, a cost that the
    installed peers (and the standard library) do not pay.
    """
    import mplog

    for package in (Path(mplog.__file__).parent, Path(__file__).parent):
        compileall.compile_dir(package, quiet=2)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; exit status 1 if any mplog run failed verification."""
    args = parse_args(argv)
    if args.list:
        list_variants()
        return 0
    try:
        plan = make_plan(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{plan.size()} runs: {len(plan.variants)} variants x {list(plan.methods)} x "
        f"{list(plan.workers)} workers x {plan.reps} reps, {plan.records:,} records/worker"
    )
    compile_bytecode()
    started = time.perf_counter()
    show = lambda trial: print(progress_line(trial), flush=True)  # noqa: E731
    trials = run_suite(plan, progress=show)
    section = None
    if "spawn" in plan.methods and not args.no_startup:
        section = startup_rows.run(plan.variants, plan.reps, progress=show)
    wall = time.perf_counter() - started
    _, written = write_results(args, plan, trials, wall, section)
    print(f"\nwall time {wall / 60:.1f} min; wrote " + ", ".join(map(str, written)))
    mplog_failed = [t for t in trials if t.variant.startswith("mplog") and not t.ok]
    return 1 if mplog_failed or (section is not None and not section.ok) else 0
