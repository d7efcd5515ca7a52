"""Check a run's output: every record there exactly once, intact, in per-worker order.

A line is *intact* when it matches the benchmark's format, names a known task and step, and
carries that record's value and payload and the pid of the process that ran the task. Lines
that are not intact count as corrupt; a good (task, step) seen again is a duplicate; one seen
after a later step of the same task (in the same file) is reordered; one never seen is lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from benchmarks.workload import payload, value
from mplog._checking import RecordCheck, Verdict

LINE = re.compile(
    rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\d+) \S+ bench\.worker INFO "
    rb"task (\d+) step (\d+) value (\S+) payload=(\S+)"
)


#: The message of a JSON line (``json=True``, a ``JsonFormatter``).
MESSAGE = re.compile(r"task (\d+) step (\d+) value (\S+) payload=(\S+)")


def _json_fields(raw: bytes) -> tuple[bytes, ...] | None:
    """The fields :data:`LINE` matches, from a JSON line of the benchmark's record."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(obj, dict) or (obj.get("logger"), obj.get("level")) != (
        "bench.worker",
        "INFO",
    ):
        return None
    match = MESSAGE.fullmatch(str(obj.get("message")))
    if match is None or not obj.get("time"):
        return None
    return (str(obj.get("process")).encode(), *(g.encode() for g in match.groups()))


class _Checker:
    """Reads the benchmark's lines into the shared record check (``mplog._checking``): a
    record's key is (task, step), its stream the task, its order the step."""

    def __init__(self, tasks: int, records: int, pids: Mapping[int, int] | None) -> None:
        self.tasks, self.records = tasks, records
        self.payloads = [payload(task).encode() for task in range(tasks)]
        self.pids = {task: str(pid).encode() for task, pid in (pids or {}).items()}
        self.check = RecordCheck((t, s) for t in range(tasks) for s in range(records))

    def check_file(self, path: Path) -> None:
        self.check.new_file()
        with open(path, "rb") as file:
            for raw in file:
                line = raw.rstrip(b"\n")
                if line.startswith(b"{"):
                    fields = _json_fields(line)
                else:
                    match = LINE.fullmatch(line)
                    fields = None if match is None else match.groups()
                parsed = None if fields is None else self._parse(*fields)
                if parsed is None:
                    self.check.corrupt()
                else:
                    self.check.record(parsed, parsed[0], parsed[1])

    def _parse(
        self, pid: bytes, task_text: bytes, step_text: bytes, value_text: bytes, text: bytes
    ) -> tuple[int, int] | None:
        task, step = int(task_text), int(step_text)
        if task >= self.tasks or step >= self.records:
            return None
        if text != self.payloads[task] or value_text != b"%.3f" % value(step):
            return None
        if task in self.pids and pid != self.pids[task]:
            return None
        return task, step


def verify(
    files: Iterable[Path], tasks: int, records: int, pids: Mapping[int, int] | None = None
) -> Verdict:
    """Verify ``files`` against ``tasks`` x ``records`` records; ``pids`` maps task -> pid.
    A run is good only if its files hold exactly those lines, each record once, in order."""
    checker = _Checker(tasks, records, pids)
    for path in files:
        checker.check_file(path)
    return checker.check.verdict()
