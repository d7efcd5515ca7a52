"""Checking a log against what was logged: every record exactly once, intact, in order.

One checker for the demo (``python -m mplog demo``), the benchmark suite and the tests. Each
reads its own line format and hands over, per line, either "corrupt" (the line cannot be an
intact record) or the record's *key* (its identity and content, so a record whose content
was damaged does not match the key that was logged), the *stream* it belongs to (a process,
a task) and its *order* within that stream. The checker counts what is wrong.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass
class Verdict:
    """What reading a log back found, compared with what was logged."""

    expected: int
    found: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupt: int = 0
    unexpected: int = 0
    reordered: int = 0
    #: Records found per stream (a plain dict: it goes into JSON reports).
    per_stream: dict[Hashable, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every record arrived exactly once, intact and in order, and nothing else."""
        return not self.problems()

    def problems(self) -> str:
        """What is wrong, e.g. "3 lost, 1 reordered" ("" when nothing is)."""
        counts = (
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("corrupt", self.corrupt),
            ("unexpected", self.unexpected),
            ("reordered", self.reordered),
        )
        return ", ".join(f"{count} {what}" for what, count in counts if count)


class RecordCheck:
    """Counts lost, duplicated, corrupt, unexpected and reordered records.

    ``expected`` holds the key of every record that was logged. Order is checked within each
    stream, across everything read since :meth:`new_file` (records may legitimately restart
    their order in another file, e.g. a file per worker).
    """

    def __init__(self, expected: Iterable[Hashable]) -> None:
        self._expected = set(expected)
        self._seen: set[Hashable] = set()
        self._last: dict[Hashable, int] = {}
        self._verdict = Verdict(expected=len(self._expected))

    def corrupt(self) -> None:
        """A line that should have been a record and is not an intact one."""
        self._verdict.corrupt += 1

    def record(self, key: Hashable, stream: Hashable, order: int) -> None:
        """An intact record: ``key`` must be expected and new; ``order`` must not go back."""
        verdict = self._verdict
        if key not in self._expected:
            verdict.unexpected += 1
            return
        if key in self._seen:
            verdict.duplicated += 1
            return
        self._seen.add(key)
        verdict.found += 1
        verdict.per_stream[stream] = verdict.per_stream.get(stream, 0) + 1
        last = self._last.get(stream, -1)
        if order < last:
            verdict.reordered += 1
        self._last[stream] = max(order, last)

    def new_file(self) -> None:
        """What follows comes from another file: order starts afresh."""
        self._last.clear()

    def verdict(self) -> Verdict:
        """The counts so far; every expected record not seen is lost."""
        self._verdict.lost = len(self._expected) - self._verdict.found
        return self._verdict
