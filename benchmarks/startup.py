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

The listener's side of each new connection (accept, hello, the pipe passed with
``SCM_RIGHTS``, the goodbye) does not delay the worker, which waits for no answer on a Unix
socket; its CPU time (the listener thread's clock) is reported per worker. The measurement
runs in a fresh interpreter (``python -m benchmarks.startup``, or :func:`measure_fresh`), so
that the spawned children do not re-import a heavy main module, as they would the suite's.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
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
        spans = ((started, entered), (entered, configured), (configured, first))
        for name, (a, b) in zip(PHASES, spans, strict=True):
            self.phases.setdefault(name, []).append((b - a) / 1e6)
        self.phases.setdefault("total", []).append((first - started) / 1e6)
        self.cpu.append(cpu / 1e6)

    def median(self, phase: str) -> float:
        """Median milliseconds of a phase ("total" for all three, "cpu" for the CPU time)."""
        return statistics.median(self.cpu if phase == "cpu" else self.phases[phase])


@dataclass
class StartupCost:
    """Both kinds' samples, and mplog's extra over the FileHandler (medians)."""

    file: Samples
    mplog: Samples
    records_found: int
    samples: int
    listener_cpu_ms: float  # the listener thread's CPU time per mplog worker

    @property
    def extra_ms(self) -> float:
        """mplog's extra wall time to the first record written, per spawned worker."""
        return self.mplog.median("total") - self.file.median("total")

    @property
    def extra_cpu_ms(self) -> float:
        """mplog's extra CPU time of the worker process (insensitive to the machine's load)."""
        return self.mplog.median("cpu") - self.file.median("cpu")

    @property
    def lossless(self) -> bool:
        """Whether every mplog sample's record reached the listener's file."""
        return self.records_found == self.samples

    def rows(self) -> list[tuple[str, float, float]]:
        """(phase, FileHandler median ms, mplog median ms), the worker's CPU time last."""
        phases = (*PHASES, "total", "cpu")
        return [(p, self.file.median(p), self.mplog.median(p)) for p in phases]

    def lines(self) -> list[str]:
        """A small text table: median ms per phase and kind, and the difference."""
        out = [f"{'phase (median ms)':<22}{'FileHandler':>12}{'mplog':>10}{'extra':>10}"]
        for phase, a, b in self.rows():
            name = "worker CPU time" if phase == "cpu" else phase
            out.append(f"{name:<22}{a:>12.2f}{b:>10.2f}{b - a:>+10.2f}")
        out.append(f"listener CPU per new worker: {self.listener_cpu_ms:.3f} ms")
        out.append(
            f"{self.samples} spawns of each, alternating; mplog records found: "
            f"{self.records_found}/{self.samples}"
        )
        return out

    def to_json(self) -> str:
        """The measurement as JSON (see :meth:`from_json`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StartupCost:
        """The measurement :meth:`to_json` wrote."""
        data = json.loads(text)
        data["file"], data["mplog"] = Samples(**data["file"]), Samples(**data["mplog"])
        return cls(**data)


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


def _thread_cpu_ms(name: str) -> float:
    """CPU time of this process's thread called ``name`` (Linux and most Unixes)."""
    (thread,) = [t for t in threading.enumerate() if t.name == name]
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident)) * 1e3


def measure(samples: int = SAMPLES, method: str = "spawn") -> StartupCost:
    """Start ``samples`` workers of each kind, alternating; check mplog lost nothing."""
    import multiprocessing

    import mplog
    from mplog._pools import _worker_init  # the very initializer the executor pickles

    ctx = multiprocessing.get_context(method)
    costs = {"file": Samples(), "mplog": Samples()}
    listener_cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="mplog-startup-") as workdir:
        log_path = Path(workdir) / "mplog.log"
        listener = mplog.setup_listener(log_path, level=logging.INFO, fmt=FORMAT)
        try:
            for index in range(samples):
                path = str(Path(workdir) / f"file-{index}.log")
                costs["file"].add(*_one(ctx, "file", path))
                before = _thread_cpu_ms("mplog-listener")
                costs["mplog"].add(*_one(ctx, "mplog", _worker_init(listener, None, ())))
                listener_cpu += _thread_cpu_ms("mplog-listener") - before
        finally:
            listener.stop()
        found = log_path.read_text(encoding="utf-8").count(" bench.start INFO started ")
    return StartupCost(costs["file"], costs["mplog"], found, samples, listener_cpu / samples)


def measure_fresh(samples: int = SAMPLES) -> StartupCost:
    """:func:`measure` in a new interpreter started with ``-c`` (no main module for the
    spawned children to import), from the current directory (the repository's root)."""
    code = f"from benchmarks.startup import measure; print(measure({int(samples)}).to_json())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60 + 10 * samples,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the start-up measurement failed: {result.stderr.strip()[-500:]}")
    return StartupCost.from_json(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.startup [SAMPLES]``: print the table; 1 if mplog lost a record."""
    args = sys.argv[1:] if argv is None else argv
    cost = measure_fresh(int(args[0]) if args else SAMPLES)
    print("\n".join(cost.lines()))
    return 0 if cost.lossless else 1


if __name__ == "__main__":
    sys.exit(main())
