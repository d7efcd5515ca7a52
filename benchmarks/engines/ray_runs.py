"""Ray workers logging into one file: through mplog vs Ray's ``log_to_driver``.

Each trial is a driver of its own (``python -m benchmarks.engines.ray_runs``, a fresh local
Ray instance: ``ray.init`` and worker start-up are not timed), whose workers run the suite's
workload (``benchmarks.workload.run_task``). mplog: ``ray.init(runtime_env=
mplog.ray.install())`` and a file listener in the driver. ``log_to_driver``: each worker's
root logger writes the same format to its stdout (Ray's recommended
``worker_process_setup_hook``), Ray ships the lines to the driver, whose stdout is the file;
Ray's ``(task pid=...)`` prefix is stripped before verification, and ``RAY_DEDUP_LOGS=0``
(Ray's default drops lines of several workers that differ only in numbers, as these do).

The clock runs from submitting the tasks until every record is in the file: mplog until
``listener.stop()`` returns; ``log_to_driver`` until the file holds every record (or nothing
arrived for ``QUIET`` seconds). An *at-once* trial (ray #46413) shuts Ray down right after
the last ``ray.get`` and ends the driver: what is not in the file then is lost.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.engines.common import Result, benchmark_lines, wait_for_lines
from benchmarks.verify import verify
from benchmarks.workload import FORMAT, TaskStats, formatted, install_root_handler, run_task

ROOT = str(Path(__file__).resolve().parents[2])
QUIET = 10.0
VARIANTS = ("ray-mplog", "ray-log_to_driver")
#: Ray's prefix on a forwarded line, with the colour codes it may add.
PREFIX = re.compile(rb"^(?:\x1b\[[0-9;]*m)*\([^)]*\)(?:\x1b\[[0-9;]*m)* ")


def stdout_logging() -> None:
    """``log_to_driver``'s worker setup hook: the root logger writes lines to stdout."""
    install_root_handler(formatted(logging.StreamHandler(sys.stdout)))


def work(task: int, records: int) -> TaskStats:
    return run_task(task, records)


def warm_up() -> int:
    time.sleep(0.5)  # long enough that each warm-up task gets a worker of its own
    return os.getpid()


def driver(variant: str, at_once: bool, workers: int, records: int, path: Path) -> dict:
    """Run in the driver process: one trial; returns seconds and the workers' pids."""
    import ray

    import mplog
    import mplog.ray

    listener = None
    if variant == "ray-mplog":
        listener = mplog.setup_listener(path, fmt=FORMAT, level="INFO")
        env = mplog.ray.install()
    else:
        env = {"worker_process_setup_hook": "benchmarks.engines.ray_runs.stdout_logging"}
    env["env_vars"] = {"PYTHONPATH": ROOT}
    ray.init(
        num_cpus=workers,
        include_dashboard=False,
        runtime_env=env,
        log_to_driver=listener is None,
        logging_level=logging.WARNING,
    )
    ray.get([ray.remote(warm_up).remote() for _ in range(workers)])
    start = time.perf_counter()
    task = ray.remote(work)
    stats = ray.get([task.remote(t, records) for t in range(workers)])
    if at_once:
        ray.shutdown()
    if listener is not None:
        listener.stop()
        end = time.perf_counter()
    else:
        end = time.perf_counter() if at_once else wait_for_lines(path, workers * records, QUIET)
    if not at_once:
        ray.shutdown()
    return {"seconds": end - start, "pids": {s.task: s.pid for s in stats}}


def stripped(path: Path) -> Path:
    """``path`` without Ray's per-line prefix (mplog's file has none)."""
    clean = path.with_suffix(".stripped")
    with open(path, "rb") as source, open(clean, "wb") as target:
        target.writelines(PREFIX.sub(b"", line) for line in source)
    return clean


def trial(variant: str, workdir: Path, workers: int, records: int, kill: bool) -> Result:
    """One trial of ``variant`` in a driver process of its own; verified."""
    path = workdir / f"{variant}-{'at-once' if kill else 'run'}.log"
    report = workdir / f"{variant}-{'at-once' if kill else 'run'}.json"
    args = [variant, str(int(kill)), str(workers), str(records), str(path), str(report)]
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "PYTHONPATH": ROOT}
    with open(path, "ab") as stdout, open(workdir / "driver.err", "ab") as stderr:
        subprocess.run(
            [sys.executable, "-m", "benchmarks.engines.ray_runs", *args],
            stdout=stdout if variant == "ray-log_to_driver" else subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            timeout=900,
            check=True,
        )
    data = json.loads(report.read_text("utf-8"))
    pids = {int(task): pid for task, pid in data["pids"].items()}
    verdict = verify([benchmark_lines(stripped(path))], workers, records, pids)
    return Result.of(variant, kill, workers, records, data["seconds"], verdict)


if __name__ == "__main__":
    name, once, count, size, out, report_path = sys.argv[1:]
    outcome = driver(name, once == "1", int(count), int(size), Path(out))
    Path(report_path).write_text(json.dumps(outcome), "utf-8")
