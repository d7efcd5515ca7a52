"""What the engine benchmarks share: a trial's result, and waiting for lines to arrive."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mplog._checking import Verdict


@dataclass(frozen=True)
class Result:
    """One trial: how fast every record reached the file, and what did not."""

    variant: str
    kill: bool
    workers: int
    records: int
    seconds: float
    expected: int
    found: int
    lost: int
    problems: str

    @classmethod
    def of(
        cls,
        variant: str,
        kill: bool,
        workers: int,
        records: int,
        seconds: float,
        v: Verdict,
        never_logged: int = 0,
    ) -> Result:
        """From ``benchmarks.verify``'s verdict over ``workers`` x ``records``, of which
        ``never_logged`` were not logged (a worker killed on purpose): those are not lost."""
        lost = v.lost - never_logged
        others = (
            ("duplicated", v.duplicated),
            ("corrupt", v.corrupt),
            ("unexpected", v.unexpected),
            ("reordered", v.reordered),
        )
        problems = ", ".join(f"{count} {what}" for what, count in others if count)
        expected = workers * records - never_logged
        return cls(variant, kill, workers, records, seconds, expected, v.found, lost, problems)

    @property
    def rate(self) -> float:
        """Records that reached the file per second."""
        return self.found / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as file:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def wait_for_lines(path: Path, expected: int, quiet: float, poll: float = 0.01) -> float:
    """Wait until ``path`` holds ``expected`` lines, or grew by none for ``quiet`` seconds;
    return the ``perf_counter`` time of the last line's arrival (as near as polling sees)."""
    seen, last_growth = count_lines(path), time.perf_counter()
    while seen < expected and time.perf_counter() - last_growth < quiet:
        time.sleep(poll)
        now = count_lines(path)
        if now > seen:
            seen, last_growth = now, time.perf_counter()
    return last_growth


def benchmark_lines(path: Path) -> Path:
    """A copy of ``path`` with only the lines of the benchmark's logger: the listener's own
    notices (a worker that died) and an engine's messages are not records of the workload.
    A torn record line is still caught: as lost if its logger name is torn, else corrupt."""
    kept = path.with_suffix(".records")
    with open(path, "rb") as source, open(kept, "wb") as target:
        target.writelines(line for line in source if b" bench.worker " in line)
    return kept
