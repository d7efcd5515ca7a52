"""Peak memory of the whole process tree, sampled by a separate process.

The sample is the sum of the proportional set sizes (PSS) of the measured process and all
its descendants (pool workers, listener processes, resource trackers), the sampler itself
excluded; the result is the peak minus the sum just before the run started. PSS counts a
page shared by N processes as 1/N in each, so the sum is the memory the tree occupies. The
resident set size (RSS, where PSS is not available) counts such a page in every process:
under fork, each worker's and a listener process's copy of main's pages (~115 MB in the
suite's main) counted once more, and 32 forked workers summed to 3.7 GB with a few MB of
their own each.

Why a process and not a thread: a sampling thread in the measured process would share its
GIL with a listener thread, and it would change what the variant under test sees (mplog forks
its listener process only when main runs no other thread, as most programs' mains do).

Run as a script, ``memory.py PID`` prints the baseline, samples until its stdin closes, then
prints the peak.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from types import TracebackType

import psutil

#: Shortest time between samples. A sample of a big tree costs milliseconds of CPU, so the
#: sampler also waits COST_FACTOR times what the last one took.
INTERVAL = 0.02
COST_FACTOR = 20
#: How long the sampler may take to start or to report before the trial fails.
TIMEOUT = 30.0


def tree_memory(pid: int, *, exclude: int | None = None) -> int:
    """Bytes of memory process ``pid`` and its descendants (but ``exclude``) occupy now:
    their PSS (Linux), else their RSS."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        if process.pid == exclude:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += _size(process)  # unless it exited since the listing
    return total


def _size(process: psutil.Process) -> int:
    if _PSS:
        return int(process.memory_full_info().pss)
    return int(process.memory_info().rss)


_PSS = hasattr(psutil.Process().memory_full_info(), "pss")


class PeakTreeMemory:
    """Context manager: ``peak_mb`` is the tree's peak memory above its start, in MB."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._sampler: subprocess.Popen[str] | None = None

    def __enter__(self) -> PeakTreeMemory:
        command = [sys.executable, __file__, str(os.getpid()), str(self.interval)]
        self._sampler = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.baseline = self.peak = self._answer()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sampler = self._sampler
        assert sampler is not None and sampler.stdin is not None
        sampler.stdin.close()
        try:
            self.peak = max(self.peak, self._answer())
        finally:
            sampler.wait(TIMEOUT)

    def _answer(self) -> int:
        sampler = self._sampler
        assert sampler is not None and sampler.stdout is not None
        ready, _, _ = select.select([sampler.stdout], [], [], TIMEOUT)
        line = sampler.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            sampler.kill()
            raise RuntimeError(f"the memory sampler did not answer (got {line!r})")
        return int(line)

    @property
    def peak_mb(self) -> float:
        """Peak memory (PSS) of the tree above the baseline, in MB (10^6 bytes)."""
        return (self.peak - self.baseline) / 1e6


def sample(pid: int, interval: float) -> None:
    """The sampler's loop: baseline, then samples until stdin closes, then the peak."""
    me = os.getpid()
    peak = tree_memory(pid, exclude=me)
    print(peak, flush=True)
    pause = interval
    while not select.select([sys.stdin], [], [], pause)[0]:
        started = time.perf_counter()
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, tree_memory(pid, exclude=me))
        pause = max(interval, COST_FACTOR * (time.perf_counter() - started))
    print(peak, flush=True)


if __name__ == "__main__":
    sample(int(sys.argv[1]), float(sys.argv[2]))
