"""The contextual-information, record-factory and formatting-style examples: each runs as a user
would run it, and every field its records carry arrives in the files with the right value."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.test_examples import parse, run_example

TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
#: (request id, connection id, user, IP address), as in contextual_adapters_filters.py.
REQUESTS = [
    ("r-100", "7", "jim", "123.231.231.123"),
    ("r-101", "8", "fred", "127.0.0.1"),
    ("r-102", "9", "sheila", "192.168.0.1"),
    ("r-103", "8", "jim", "127.0.0.1"),
]


def by_task(lines: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """The lines grouped by their ``task`` field, each group in file order."""
    groups: dict[str, list[dict[str, str]]] = {}
    for line in lines:
        groups.setdefault(line["task"], []).append(line)
    return groups


def test_contextual_adapters_filters(tmp_path: Path) -> None:
    """Fields added in the workers by a LoggerAdapter (connid), a logger's Filter (user, ip)
    and mplog.context (request_id) all reach the file through %(...)s fields, on each record
    of the right task, alongside worker_index, task_id and task_name."""
    result = run_example("contextual_adapters_filters.py", str(tmp_path))
    path = tmp_path / "requests.log"
    assert f"wrote {path} (8 lines)" in result.stdout
    line = re.compile(
        r"^(?P<level>[A-Z]+) +worker=(?P<worker>\d+) task=(?P<task>\d+)/(?P<task_name>\S+) "
        r"request=(?P<request>\S+) conn=(?P<conn>\S+) user=(?P<user>\S+) ip=(?P<ip>\S+) "
        r"(?P<name>\S+): (?P<message>.+)$"
    )
    groups = by_task(parse(path, line))
    assert sorted(groups) == ["0", "1", "2", "3"]
    for task, (request, conn, user, ip) in enumerate(REQUESTS):
        records = groups[str(task)]
        fields = {"task_name": "handle", "request": request, "conn": conn, "user": user}
        fields |= {"ip": ip, "name": "myapp.requests"}
        assert [(r["level"], r["message"]) for r in records] == [
            ("INFO", "request received"),
            ("WARNING", f"request for {user} took {len(user) * 100} ms"),
        ]
        for record in records:
            assert {key: record[key] for key in fields} == fields
        assert records[0]["worker"] == records[1]["worker"]
        assert records[0]["worker"] in ("0", "1")


def test_custom_record_factory(tmp_path: Path) -> None:
    """The record factory installed by each worker's pool initializer adds its attributes to
    every worker record, and they arrive at the process listener as typed JSON fields; main,
    which has no such factory, sends its record without them."""
    result = run_example("custom_record_factory.py", str(tmp_path))
    path = tmp_path / "records.jsonl"
    assert f"wrote {path} (9 lines)" in result.stdout
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    main, workers = records[0], records[1:]
    assert main["processName"] == "MainProcess"
    assert main["message"] == "main: no custom factory here"
    assert main["task_id"] is None
    assert not {"custom_attribute", "service", "sequence"} & set(main)
    expected = sorted(f"invoice {n} {what}" for n in range(4) for what in ("created", "sent"))
    assert sorted(r["message"] for r in workers) == expected
    sequences: dict[int, list[int]] = {}
    for record in workers:
        assert record["logger"] == "billing.invoices"
        assert record["custom_attribute"] == 0xDECAFBAD
        assert record["service"] == "billing"
        assert record["task_name"] == "work"
        assert record["message"].startswith(f"invoice {record['task_id']} ")
        assert record["worker_index"] in (0, 1)
        assert record["processName"].startswith("SpawnPoolWorker-")
        sequences.setdefault(record["process"], []).append(record["sequence"])
    # Each worker numbers its own records: 0, 1, 2, ... in the order they were logged.
    assert all(numbers == list(range(len(numbers))) for numbers in sequences.values())
    assert sum(len(numbers) for numbers in sequences.values()) == 8


def check_styles(lines: list[dict[str, str]]) -> None:
    """Every task's four records, one per message style, arrive rendered and in order."""
    groups = by_task(lines)
    assert sorted(groups) == ["0", "1", "2"]
    for n in range(3):
        records = groups[str(n)]
        assert [(r["level"], r["name"], r["message"]) for r in records] == [
            ("INFO", "styles", f"percent: task {n} of work"),
            ("INFO", "styles", f"brace: task {n} of work, {n / 4:.2f}"),
            ("INFO", "styles", f"dollar: task {n} of work, costs ${n}"),
            ("WARNING", "styles.adapter", f"adapter: task {n} of 'work'"),
        ]
        assert len({r["worker"] for r in records}) == 1
        assert records[0]["worker"] in ("0", "1")


def test_format_styles(tmp_path: Path) -> None:
    """The listener's { format (thread listener) and $ format (listener process) both write
    every field; BraceMessage, DollarMessage and StyleAdapter messages arrive as their text."""
    result = run_example("format_styles.py", str(tmp_path))
    for name in ("brace.log", "dollar.log"):
        assert f"wrote {tmp_path / name} (12 lines)" in result.stdout
    tail = r"(?P<name>\S+) worker=(?P<worker>\d+) task=(?P<task>\d+) \| (?P<message>.+)$"
    brace = parse(tmp_path / "brace.log", re.compile(rf"^{TIMESTAMP} (?P<level>.{{8}}) {tail}"))
    for line in brace:  # {levelname:<8}: padded to eight characters
        assert re.fullmatch(r"[A-Z]+ *", line["level"]), line
        line["level"] = line["level"].rstrip()
    check_styles(brace)
    check_styles(
        parse(tmp_path / "dollar.log", re.compile(rf"^{TIMESTAMP} (?P<level>[A-Z]+) {tail}"))
    )


def test_dictconfig_styles(tmp_path: Path) -> None:
    """A dictConfig applied in a listener process: the $-style formatter writes every record
    with mplog's fields; the {-style one, behind the cookbook's MyFilter made by its "()"
    factory, writes only the records without "noshow", each marked "changed:"."""
    result = run_example("dictconfig_styles.py", str(tmp_path))
    assert f"wrote {tmp_path / 'detailed.log'} (9 lines)" in result.stdout
    assert f"wrote {tmp_path / 'brief.log'} (6 lines)" in result.stdout
    detailed = re.compile(
        rf"^{TIMESTAMP} (?P<process>SpawnProcess-\d+) worker=(?P<worker>\d+) "
        r"task=(?P<task>\d+) (?P<level>[A-Z]+) (?P<message>.+)$"
    )
    groups = by_task(parse(tmp_path / "detailed.log", detailed))
    assert sorted(groups) == ["0", "1", "2"]
    for n in range(3):
        assert [(r["level"], r["message"]) for r in groups[str(n)]] == [
            ("DEBUG", f"hello {n}"),
            ("DEBUG", f"hello {n} - noshow"),
            ("INFO", f"task {n} done"),
        ]
        assert {r["worker"] for r in groups[str(n)]} <= {"0", "1"}
    brief = (tmp_path / "brief.log").read_text(encoding="utf-8")
    expected = [
        f"{level:>8} | {name:<6} | changed: {message}"
        for n in range(3)
        for level, name, message in (
            ("DEBUG", "root", f"hello {n}"),
            ("INFO", "app", f"task {n} done"),
        )
    ]
    assert sorted(brief.splitlines()) == sorted(expected)
    assert brief.endswith("\n")
