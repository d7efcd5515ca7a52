"""Command line of the engine benchmarks: run the trials interleaved, print and write a table.

Results go to ``benchmarks/results/engines-<stamp>.md`` (the table) and ``.json`` (every
trial). Each cell is the median of the repetitions, with the spread (min-max).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.engines.common import Result

RESULTS = Path(__file__).resolve().parent.parent / "results"
#: (engine, variant, kill): the trials of one repetition, in this order (rotated per rep).
Cell = tuple[str, str, bool]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engines",
        description="Dask and Ray workers logging into one file: mplog vs the engine's own.",
    )
    parser.add_argument("--engines", default="dask,ray", help="engines to run (dask,ray)")
    parser.add_argument("--variants", help="only these variants, e.g. dask-mplog,ray-mplog")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--records", type=int, default=20000, help="records per worker")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per cell (3)")
    parser.add_argument("--quick", action="store_true", help="1 rep of 1000 records")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--report", type=Path, help="only print the table of a results .json")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.reps = 1000, 1
    return args


def runners(engines: list[str]) -> dict[str, Callable[..., Result]]:
    """The trial function of each engine that is installed (others skipped, with a note)."""
    found: dict[str, Callable[..., Result]] = {}
    for engine, package in (("dask", "distributed"), ("ray", "ray")):
        if engine not in engines:
            continue
        if importlib.util.find_spec(package) is None:
            print(f"skipped {engine}: {package} is not installed (pip install -e '.[{engine}]')")
            continue
        module = importlib.import_module(f"benchmarks.engines.{engine}_runs")
        found[engine] = module.trial
    return found


def plan(engines: dict[str, Callable[..., Result]]) -> list[Cell]:
    cells: list[Cell] = []
    for engine in engines:
        module = sys.modules[f"benchmarks.engines.{engine}_runs"]
        for variant in module.VARIANTS:
            cells += [(engine, variant, False), (engine, variant, True)]
    return cells


def run(args: argparse.Namespace) -> list[Result]:
    engines = runners(args.engines.split(","))
    cells = plan(engines)
    if args.variants:
        cells = [cell for cell in cells if cell[1] in args.variants.split(",")]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mplog-engines-") as tmp:
        for rep in range(args.reps):
            shift = rep % max(len(cells), 1)
            for engine, variant, kill in cells[shift:] + cells[:shift]:
                workdir = Path(tmp) / f"rep{rep}"
                workdir.mkdir(exist_ok=True)
                result = engines[engine](variant, workdir, args.workers, args.records, kill)
                results.append(result)
                print(_line(result), flush=True)
    return results


def _line(r: Result) -> str:
    what = "kill" if r.kill else "run "
    status = r.problems or "ok"
    return (
        f"{r.variant:28} {what} {r.rate:10.0f} records/s  found {r.found}/{r.expected}  "
        f"lost {r.lost}  {r.seconds:.2f} s  {status}"
    )


def table(results: list[Result]) -> str:
    """One row per variant and trial kind: median records/s, spread, losses (a kill or
    at-once trial's time includes the kill or the shutdown: no rate is shown for it)."""
    rows = [
        "| variant | trial | records/s (median) | spread (min-max) | lost, per rep | damaged |",
        "|---|---|---|---|---|---|",
    ]
    keys = sorted({(r.variant, r.kill) for r in results})
    for variant, kill in keys:
        cell = [r for r in results if (r.variant, r.kill) == (variant, kill)]
        rates = [r.rate for r in cell]
        speed = f"{statistics.median(rates):,.0f} | {min(rates):,.0f}-{max(rates):,.0f}"
        problems = sorted({r.problems for r in cell if r.problems})
        rows.append(
            f"| {variant} | {_kind(cell[0])} | {'- | -' if kill else speed} | "
            f"{', '.join(str(r.lost) for r in cell)} of {cell[0].expected} | "
            f"{'; '.join(problems) or 'ok'} |"
        )
    return "\n".join(rows)


def _kind(r: Result) -> str:
    if not r.kill:
        return "all records"
    return "worker killed" if r.variant.startswith("dask") else "driver exits at once"


def load(path: Path) -> list[Result]:
    """The results a run wrote to ``path`` (its .json)."""
    fields = set(Result.__dataclass_fields__)
    data = json.loads(path.read_text("utf-8"))
    return [Result(**{k: v for k, v in d.items() if k in fields}) for d in data]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report is not None:
        print(table(load(args.report)))
        return 0
    results = run(args)
    text = table(results)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    header = (
        f"# Engine benchmarks ({stamp})\n\n`python -m benchmarks.engines --workers "
        f"{args.workers} --records {args.records} --reps {args.reps}`\n\n"
    )
    (args.out / f"engines-{stamp}.md").write_text(header + text + "\n", encoding="utf-8")
    data = [r.as_dict() for r in results]
    (args.out / f"engines-{stamp}.json").write_text(json.dumps(data, indent=1), "utf-8")
    unexpected = [r for r in results if r.variant.endswith("mplog") and (r.lost or r.problems)]
    return 1 if unexpected else 0
