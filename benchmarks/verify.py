"""Check a run's output: every record there exactly once, intact, in per-worker order.

A line is *intact* when it matches the benchmark's format, names a known task and step, and
carries that record's value and payload and the pid of the process that ran the task. Lines
that are not intact count as corrupt; a good (task, step) seen again is a duplicate; one seen
after a later step of the same task (in the same file) is reordered; one never seen is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks.workload import payload, value

LINE = re.compile(
    rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\d+) \S+ bench\.worker INFO "
    rb"task (\d+) step (\d+) value (\S+) payload=(\S+)"
)


@dataclass(frozen=True)
class Verdict:
    """The verification of one run's output files."""

    expected: int
    lines: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupt: int = 0
    reordered: int = 0

    @property
    def ok(self) -> bool:
        """True when every record is there exactly once, intact and in order."""
        problems = self.lost + self.duplicated + self.corrupt + self.reordered
        return problems == 0 and self.lines == self.expected

    def problems(self) -> str:
        """A short description of what is wrong ("" when nothing is)."""
        parts = [
            f"{count} {what}"
            for what, count in (
                ("lost", self.lost),
                ("duplicated", self.duplicated),
                ("corrupt", self.corrupt),
                ("reordered", self.reordered),
            )
            if count
        ]
        return ", ".join(parts)


class _Checker:
    """State of a verification across files."""

    def __init__(self, tasks: int, records: int, pids: Mapping[int, int] | None) -> None:
        self.records = records
        self.payloads = [payload(task).encode() for task in range(tasks)]
        self.pids = {task: str(pid).encode() for task, pid in (pids or {}).items()}
        self.seen = [bytearray(records) for _ in range(tasks)]
        self.lines = self.duplicated = self.corrupt = self.reordered = 0

    def check_file(self, path: Path) -> None:
        last = [-1] * len(self.seen)
        with open(path, "rb") as file:
            for raw in file:
                self.lines += 1
                self._check_line(raw.rstrip(b"\n"), last)

    def _check_line(self, line: bytes, last: list[int]) -> None:
        match = LINE.fullmatch(line)
        parsed = None if match is None else self._parse(*match.groups())
        if parsed is None:
            self.corrupt += 1
            return
        task, step = parsed
        if self.seen[task][step]:
            self.duplicated += 1
            return
        self.seen[task][step] = 1
        if step < last[task]:
            self.reordered += 1
        last[task] = max(last[task], step)

    def _parse(
        self, pid: bytes, task_text: bytes, step_text: bytes, value_text: bytes, text: bytes
    ) -> tuple[int, int] | None:
        task, step = int(task_text), int(step_text)
        if task >= len(self.seen) or step >= self.records:
            return None
        if text != self.payloads[task] or value_text != b"%.3f" % value(step):
            return None
        if task in self.pids and pid != self.pids[task]:
            return None
        return task, step

    def verdict(self) -> Verdict:
        found = sum(sum(flags) for flags in self.seen)
        expected = len(self.seen) * self.records
        return Verdict(
            expected, self.lines, expected - found, self.duplicated, self.corrupt, self.reordered
        )


def verify(
    files: Iterable[Path], tasks: int, records: int, pids: Mapping[int, int] | None = None
) -> Verdict:
    """Verify ``files`` against ``tasks`` x ``records`` records; ``pids`` maps task -> pid."""
    checker = _Checker(tasks, records, pids)
    for path in files:
        checker.check_file(path)
    return checker.verdict()
