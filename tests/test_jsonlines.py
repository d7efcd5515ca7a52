"""JsonFormatter: one valid JSON object per record, whatever the record holds, from any
process, with extras, context fields and exceptions as structure."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _exceptions, _protocol
from mplog.handlers import JsonFormatter
from tests._helpers import shutdown_executor

try:
    import orjson  # noqa: F401
except ImportError:
    ENCODERS = ["json"]
else:
    ENCODERS = ["json", "orjson"]


def strict_loads(line: str) -> Any:
    """json.loads that also rejects NaN/Infinity tokens (not JSON) and lone surrogates."""

    def reject(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    line.encode("utf-8")  # raises on a lone surrogate
    return json.loads(line, parse_constant=reject)


def make_record(msg: Any = "hello", args: Any = None, **extra: Any) -> logging.LogRecord:
    """A record as logger.info(msg, *args, extra=extra) makes it."""
    record = logging.LogRecord("app.json", logging.INFO, __file__, 10, msg, args, None, "fn")
    record.__dict__.update(extra)
    return record


def fail_deep() -> None:
    """Raise from a nested call, for traceback frames."""
    int("not a number")


def log_from_worker(n: int) -> int:
    """A pool task: log with extra= fields, inside a context, and one exception."""
    log = logging.getLogger("worker.json")
    with mplog.context(request_id=f"r-{n}"):
        log.info("task %d ✓ zoë", n, extra={"n": n, "ratio": math.nan})
        try:
            fail_deep()
        except ValueError:
            log.exception("task %d failed", n)
    return os.getpid()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_fields(encoder: str) -> None:
    """The standard keys, the time in ISO 8601 with its offset, and every extra field."""
    record = make_record("x=%d", (5,), request_id="r-1", worker_index=2)
    line = JsonFormatter(encoder=encoder).format(record)
    assert "\n" not in line
    data = strict_loads(line)
    assert list(data)[:12] == [
        "time",
        "level",
        "logger",
        "message",
        "process",
        "processName",
        "thread",
        "threadName",
        "module",
        "funcName",
        "lineno",
        "pathname",
    ]
    assert data["message"] == "x=5" and data["level"] == "INFO" and data["logger"] == "app.json"
    assert data["funcName"] == "fn" and data["lineno"] == 10 and data["process"] == os.getpid()
    assert data["request_id"] == "r-1" and data["worker_index"] == 2
    when = datetime.fromisoformat(data["time"])
    assert when.utcoffset() is not None
    assert abs(when.timestamp() - record.created) < 0.001
    utc = strict_loads(JsonFormatter(utc=True, encoder=encoder).format(record))
    assert utc["time"].endswith("+00:00")


@pytest.mark.parametrize("encoder", ENCODERS)
def test_extra_clashing_with_a_key(encoder: str) -> None:
    """An extra named like one of the formatter's keys is kept, as extra_<name>."""
    data = strict_loads(JsonFormatter(encoder=encoder).format(make_record(level=3, time="t")))
    assert data["level"] == "INFO" and data["extra_level"] == 3 and data["extra_time"] == "t"


class Unreprable:
    """An object whose repr() raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize("encoder", ENCODERS)
def test_strange_values(encoder: str) -> None:
    """Unpicklable and unrepresentable objects, non-ASCII text, lone surrogates, NaN and
    infinities, non-string keys, cycles, huge ints, bytes, sets and dates: the line is valid
    JSON and says what it can."""
    cycle: list[Any] = []
    cycle.append(cycle)
    record = make_record(
        "naïve ☃ \udcff %s",
        ("arg\ud800",),
        lock=threading.Lock(),
        broken=Unreprable(),
        nan=math.nan,
        inf=[math.inf, -math.inf],
        keys={1: "one", (2, 3): "tuple", None: "none"},
        cycle=cycle,
        huge=10**30,
        raw=b"\xffok",
        tags={"a"},
        when=datetime(2024, 5, 1, 12, 0),
        surrogate_key={"k\udc80": 1},
    )
    data = strict_loads(JsonFormatter(encoder=encoder).format(record))
    assert data["message"] == "naïve ☃ \\udcff arg\\ud800"
    assert data["lock"].startswith("<unlocked _thread.lock")
    assert data["broken"] == "<unrepresentable Unreprable object: RuntimeError>"
    assert data["nan"] is None and data["inf"] == [None, None]
    assert data["keys"]["1"] == "one" and data["keys"]["(2, 3)"] == "tuple"
    assert isinstance(data["cycle"], list)
    assert data["huge"] == 10**30
    assert data["raw"] == "\\xffok" and data["tags"] == ["a"]
    assert data["when"] == "2024-05-01T12:00:00"
    assert data["surrogate_key"] == {"k\\udc80": 1}


def test_message_that_cannot_be_formatted() -> None:
    """A message whose args do not match still gives a line, saying what went wrong."""
    data = strict_loads(JsonFormatter().format(make_record("%d items", ("many",))))
    assert "message formatting failed" in data["message"]


def test_exception_from_exc_info() -> None:
    """exc_info becomes structure (type, message, frames) and text."""
    try:
        fail_deep()
    except ValueError:
        record = make_record("failed")
        record.exc_info = sys.exc_info()
    data = strict_loads(JsonFormatter().format(record))
    exc = data["exc_info"]
    assert exc["type"] == "ValueError"
    assert exc["message"] == "invalid literal for int() with base 10: 'not a number'"
    assert [f["name"] for f in exc["frames"]][-2:] == ["test_exception_from_exc_info", "fail_deep"]
    assert exc["frames"][-1]["line"] == 'int("not a number")'
    assert exc["frames"][-1]["filename"] == __file__
    assert data["exc_text"].startswith("Traceback (most recent call last):")


def test_exception_from_exc_text_matches_exc_info() -> None:
    """In the listener records carry only exc_text: parsing it gives the structure a live
    exc_info gives, for a chained exception too (the one raised last)."""
    try:
        try:
            fail_deep()
        except ValueError as exc:
            raise KeyError("multi\nline") from exc
    except KeyError:
        live = make_record("failed")
        live.exc_info = sys.exc_info()
    wired = _protocol.make_record(_protocol.decode(_protocol.record_body(live)))
    assert wired.exc_info is None and wired.exc_text
    formatter = JsonFormatter()
    from_text = strict_loads(formatter.format(wired))["exc_info"]
    from_live = strict_loads(formatter.format(live))["exc_info"]
    assert from_text == from_live
    assert from_text["type"] == "KeyError" and from_text["message"] == "'multi\\nline'"


def test_parse_odd_tracebacks() -> None:
    """Text that is not a standard traceback still gives a structure."""
    assert _exceptions.parse("ValueError: x") == {
        "type": "ValueError",
        "message": "x",
        "frames": [],
    }
    assert _exceptions.parse("KeyboardInterrupt")["type"] == "KeyboardInterrupt"
    assert _exceptions.parse("just text") == {"type": None, "message": "just text", "frames": []}
    odd = _exceptions.parse("not a traceback: really (no)\nat all")
    assert odd["type"] is None and odd["frames"] == []


def test_summary_field_is_preferred() -> None:
    """A record carrying a structured summary (mplog_exc) uses it instead of parsing."""
    summary = {"type": "X", "message": "m", "frames": []}
    record = make_record(mplog_exc=summary)
    record.exc_text = "garbage"
    data = strict_loads(JsonFormatter().format(record))
    assert data["exc_info"] == summary and "mplog_exc" not in data


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_through_mplog_from_workers(tmp_path: Path, mode: str) -> None:
    """Records from pool workers, formatted as JSON in the listener (a dictConfig formatter
    with "()"): every line parses, with worker extras, context and exception structure."""
    path = tmp_path / "app.jsonl"
    config = {
        "version": 1,
        "formatters": {"json": {"()": "mplog.handlers.JsonFormatter", "utc": True}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(path),
                "formatter": "json",
                "encoding": "utf-8",
            }
        },
        "root": {"handlers": ["file"], "level": "INFO"},
    }
    with (
        mplog.setup_listener(config=config, mode=mode),  # type: ignore[arg-type]
        mplog.ProcessPoolExecutor(3) as executor,
    ):
        futures = [executor.submit(log_from_worker, n) for n in range(6)]
        pids = {future.result(timeout=60) for future in futures}
        shutdown_executor(executor)
    lines = [strict_loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    infos = [d for d in lines if d["level"] == "INFO"]
    errors = [d for d in lines if d["level"] == "ERROR"]
    assert sorted(d["n"] for d in infos) == list(range(6))
    assert all(d["ratio"] is None and d["message"].endswith("✓ zoë") for d in infos)
    assert {d["process"] for d in lines} == pids
    assert {d["request_id"] for d in errors} == {f"r-{n}" for n in range(6)}
    assert all(d["worker_index"] is not None and d["task_id"] is not None for d in lines)
    for d in errors:
        assert d["exc_info"]["type"] == "ValueError"
        assert d["exc_info"]["frames"][-1]["name"] == "fail_deep"
        assert d["exc_info"]["frames"][-1]["line"] == 'int("not a number")'


def test_json_and_the_wire_cut_nesting_at_the_same_depth() -> None:
    """A structure nested deeper than MAX_DEPTH is cut at the same level on the wire and by
    JSON lines' safe path (which a lone surrogate in the leaf forces): one limit, not two."""
    deep: list[Any] = ["leaf \udcff"]
    for _ in range(_protocol.MAX_DEPTH + 5):
        deep = [deep]

    def depth_of(value: Any) -> int:
        level = 0
        while isinstance(value, list):
            value, level = value[0], level + 1
        return level

    shipped = _protocol.plain(deep)
    written = strict_loads(JsonFormatter().format(make_record(nested=deep)))["nested"]
    assert depth_of(shipped) == depth_of(written) == _protocol.MAX_DEPTH
