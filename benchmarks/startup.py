"""What a spawned worker pays to start logging: mplog's pool initializer vs a plain FileHandler.

Each sample is one spawned process that sets up logging and logs one record, then reports
when each phase ended (``perf_counter_ns``: ``CLOCK_MONOTONIC``, the same clock in every
process) and the CPU time it used from its start (``process_time_ns``). Samples of the two
kinds alternate, so a slow spell of the machine hits both:

- ``file``: a ``logging.FileHandler`` on a file of its own (the separate-files baseline);
- ``mplog``: the very initializer ``mplog.ProcessPoolExecutor`` gives its workers (unpickling
  it imports mplog's worker side; running it configures logging and connects), with a
  listener thread running in the parent, as in a real pool.

The child's module (``benchmarks.startup_child``) imports only what a pool worker imports
anyway (``concurrent.futures.process``, whose ``_process_worker`` it unpickles, and
``logging``), so what mplog's initializer imports on top of that is what the ``mplog``
samples pay extra. Phases, from the parent's ``start()``:

- ``start``: process creation, interpreter start-up, unpickling the target and its arguments
  (mplog's import), until the target runs;
- ``setup``: the FileHandler's creation, or mplog's initializer (``configure_worker``: the
  connection, hello and pipe, the level reader thread; the worker index);
- ``first``: the first record (``FileHandler.emit``, or formatting and writing into the pipe).
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.startup_child import FORMAT, child

#: Samples of each kind per measurement (the medians need at least 20).
SAMPLES = 20
PHASES = ("start", "setup", "first")


@dataclass
class Samples:
    """Per kind: the phases' durations (ms) and the CPU time (ms) of each sample."""

    phases: dict[str, list[float]] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)

    def add(self, started: int, marks: tuple[int, int, int, int]) -> None:
        """Record one sample: the parent's start time and the child's report."""
        entered, configured, first, cpu = marks
        for name, (a, b) in zip(
            PHASES, ((started, entered), (entered, configured), (configured, first)), strict=True
        ):
            self.phases.setdefault(name, []).append((b - a) / 1e6)
        self.phases.setdefault("total", []).append((first - started) / 1e6)
        self.cpu.append(cpu / 1e6)

    def median(self, phase: str) -> float:
        """Median milliseconds of a phase ("total" for all three)."""
        return statistics.median(self.phases[phase])


@dataclass
class StartupCost:
    """Both kinds' samples, and mplog's extra over the FileHandler (medians)."""

    file: Samples
    mplog: Samples
    records_found: int
    samples: int

    @property
    def extra_ms(self) -> float:
        """mplog's extra wall time to the first record written, per spawned worker."""
        return self.mplog.median("total") - self.file.median("total")

    @property
    def extra_cpu_ms(self) -> float:
        """mplog's extra CPU time of the worker process (load-insensitive)."""
        return statistics.median(self.mplog.cpu) - statistics.median(self.file.cpu)

    @property
    def lossless(self) -> bool:
        """Whether every mplog sample's record reached the listener's file."""
        return self.records_found == self.samples

    def lines(self) -> list[str]:
        """A small table: median ms per phase and kind, CPU, and the difference."""
        out = [f"{'phase (median ms)':<22}{'FileHandler':>12}{'mplog':>10}{'extra':>10}"]
        for phase in (*PHASES, "total"):
            a, b = self.file.median(phase), self.mplog.median(phase)
            out.append(f"{phase:<22}{a:>12.2f}{b:>10.2f}{b - a:>+10.2f}")
        a, b = statistics.median(self.file.cpu), statistics.median(self.mplog.cpu)
        out.append(f"{'worker CPU':<22}{a:>12.2f}{b:>10.2f}{b - a:>+10.2f}")
        return out


def _one(ctx: Any, kind: str, setup: Any) -> tuple[int, tuple[int, int, int, int]]:
    reader, writer = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child, args=(kind, setup, writer))
    started = time.perf_counter_ns()
    process.start()
    writer.close()
    try:
        if not reader.poll(60):
            raise RuntimeError(f"a spawned {kind} worker did not report within 60 s")
        marks = reader.recv()
    finally:
        reader.close()
        process.join(60)
    if process.exitcode != 0:
        raise RuntimeError(f"a spawned {kind} worker exited with {process.exitcode}")
    return started, marks


def measure(samples: int = SAMPLES, method: str = "spawn") -> StartupCost:
    """Start ``samples`` workers of each kind, alternating; check mplog lost nothing."""
    import multiprocessing

    import mplog
    from mplog._pools import _worker_init  # the very initializer the executor pickles

    ctx = multiprocessing.get_context(method)
    costs = {"file": Samples(), "mplog": Samples()}
    with tempfile.TemporaryDirectory(prefix="mplog-startup-") as workdir:
        log_path = Path(workdir) / "mplog.log"
        listener = mplog.setup_listener(log_path, level=logging.INFO, fmt=FORMAT)
        try:
            for index in range(samples):
                path = str(Path(workdir) / f"file-{index}.log")
                for kind, setup in (("file", path), ("mplog", _worker_init(listener, None, ()))):
                    costs[kind].add(*_one(ctx, kind, setup))
        finally:
            listener.stop()
        found = log_path.read_text(encoding="utf-8").count(" bench.start INFO started ")
    return StartupCost(costs["file"], costs["mplog"], found, samples)


if __name__ == "__main__":
    cost = measure()
    print("\n".join(cost.lines()))
    print(f"mplog records found: {cost.records_found}/{cost.samples}")
