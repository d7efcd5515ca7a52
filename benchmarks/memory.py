"""Peak memory of the whole process tree, sampled by a thread in the parent.

The sample is the sum of the resident set sizes of this process and all its descendants
(pool workers, listener processes, resource trackers); the result is the peak minus the
sum just before the run started.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType

import psutil

#: Shortest time between samples. A sample of a big tree costs milliseconds of this
#: process's CPU, so the sampler also waits COST_FACTOR times what the last one took.
INTERVAL = 0.02
COST_FACTOR = 20


def tree_rss() -> int:
    """Bytes resident in this process and its descendants, now."""
    me = psutil.Process()
    total = 0
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss  # unless it exited since the listing
    return total


class PeakTreeMemory:
    """Context manager: ``peak_mb`` is the tree's peak RSS above its starting RSS, in MB."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-memory", daemon=True)

    def __enter__(self) -> PeakTreeMemory:
        self.baseline = self.peak = tree_rss()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            started = time.perf_counter()
            self.peak = max(self.peak, tree_rss())
            pause = max(self.interval, COST_FACTOR * (time.perf_counter() - started))

    @property
    def peak_mb(self) -> float:
        """Peak RSS of the tree above the baseline, in MB (10^6 bytes)."""
        return (self.peak - self.baseline) / 1e6
