"""JsonFormatter: one valid JSON object per record, whatever the record holds, from any
process, with extras, context fields and exceptions as structure."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import random
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _exceptions, _protocol
from mplog._outputs import jsonlines
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


def _general_line(formatter: JsonFormatter, record: logging.LogRecord) -> str:
    """The line the general way (a dict, then the encoder) writes for ``record``."""
    payload = formatter.to_dict(record)
    try:
        return formatter._dumps(payload)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return jsonlines._stdlib_dumps(
            {jsonlines._key(k): jsonlines.make_plain(v) for k, v in payload.items()}
        )


#: Values of every kind the plain line writes itself, and of kinds it leaves to the dict.
_VALUES: list[Any] = [
    "a",
    "zoë ✓ 日本",
    "lone \ud800",
    'q"\\\n\x01\x7f\u2028',
    1,
    -5,
    2**70,
    1.5,
    1e16,
    1e-7,
    -0.0,
    math.nan,
    math.inf,
    True,
    False,
    None,
    b"by",
    [1, "x"],
    {"a": 1},
    object(),
    logging.INFO,
]


def _random_record(rng: random.Random) -> logging.LogRecord:
    msg = rng.choice(["m %s", "plain", "%d", "ü %r"])
    func = rng.choice(["fn", None])
    record = logging.LogRecord("app.x", 20, "/p/a.py", 3, msg, (rng.choice(_VALUES),), None, func)
    base = float(int(time.time()))
    record.created = rng.choice(
        [base + rng.uniform(-1e8, 1e8), base + 0.9999996, base + 0.0005, rng.uniform(0, 1e9), 0.0]
    )
    if rng.random() < 0.1:
        record.process = rng.choice(_VALUES)
    if rng.random() < 0.1:
        record.threadName = rng.choice(_VALUES)
    names = ["a", "time", "level", "svc", "extra_time", "x\ud800", "ü", "n", 'q"k', "hostname"]
    for name in rng.sample(names, rng.randint(0, 4)):
        record.__dict__[name] = rng.choice(_VALUES)
    return record


@pytest.mark.parametrize(
    "options",
    [{}, {"utc": True, "static": {"svc": "s", "n": 1}}, {"static": {"level": "x"}}],
    ids=["default", "static", "static-shadowing"],
)
def test_the_plain_line_is_the_general_ways(options: dict[str, Any]) -> None:
    """For records of every shape (odd values, shadowing names, lone surrogates, NaN, ints
    beyond 64 bits, None where text is due), ``format`` writes the same line whether it
    takes the plain way or the dict; the plain way is taken for most of them."""
    formatter = JsonFormatter(encoder="json", **options)
    rng = random.Random(14)
    plain = 0
    for _ in range(3000):
        record = _random_record(rng)
        line = formatter.plain_line(record)
        plain += line is not None
        general = _general_line(formatter, record)
        assert formatter.format(record) == general
        assert line is None or line == general
    assert plain > 600 if not options.get("static", {}).get("level") else plain == 0


def test_the_plain_line_leaves_exceptions_and_stacks_to_the_dict() -> None:
    record = make_record("x", stack_info="Stack (most recent call last):\n  here")
    assert JsonFormatter(encoder="json").plain_line(record) is None
    assert "stack_info" in strict_loads(JsonFormatter(encoder="json").format(record))


def test_a_subclass_shaping_lines_otherwise_is_not_written_the_plain_way() -> None:
    class Tagged(JsonFormatter):
        def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
            return {**super().to_dict(record), "tag": 1}

    assert strict_loads(Tagged(encoder="json").format(make_record("x")))["tag"] == 1
    assert JsonFormatter(encoder="json").writes_plain and not Tagged(encoder="json").writes_plain
    if "orjson" in ENCODERS:  # orjson writes its own way: the dict, always
        assert not JsonFormatter(encoder="orjson").writes_plain


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_iso_time_is_datetimes_to_the_rounding(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time text made once a second is datetime's, fractions rounded half to even to
    microseconds (carrying into the next second) and cut to milliseconds, in local time
    across a DST change too."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        rng = random.Random(7)
        dst_change = 1710054000.0  # 2024-03-10 07:00 UTC: New York moves to daylight time
        whole = [int(rng.uniform(0, 2e9)) for _ in range(300)] + [
            int(dst_change) + s for s in range(-3, 3)
        ]
        fractions = [0.0, 0.0005, 0.0004999, 0.9995, 0.9999994, 0.9999995, 0.9999996, 0.5]
        created = [w + f for w in whole for f in fractions] + [
            rng.uniform(0, 2e9) for _ in range(2000)
        ]
        for utc in (False, True):
            formatter = JsonFormatter(utc=utc)
            for value in created:
                record = make_record(created=value)
                zone_info = (
                    dt.timezone.utc
                    if utc
                    else dt.datetime.fromtimestamp(int(value)).astimezone().tzinfo
                )
                want = dt.datetime.fromtimestamp(value, zone_info).isoformat(
                    timespec="milliseconds"
                )
                assert formatter.iso_time(record) == want, value
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_bare_records_line_with_fields_added_is_the_stamped_records(encoder: str) -> None:
    """``bare_line`` (what workers write with an encoder ``plain_line`` leaves to the dict):
    a record with no extras, fields added last, is the line of the record carrying them;
    any other record is left to ``format``."""
    formatter = JsonFormatter(encoder=encoder, static={"svc": "s"})
    items = [("worker_index", 3), ("task_id", None), ("task_name", "t ü"), ("hostname", "h")]
    bare, stamped = make_record("n=%d", (5,)), make_record("n=%d", (5,), **dict(items))
    stamped.created = bare.created
    assert formatter.bare_line(bare, items) == formatter.format(stamped)
    assert formatter.bare_line(stamped, items) is None  # it has extras: not bare
    assert formatter.bare_line(make_record("x", stack_info="Stack:\n  here"), items) is None
    assert formatter.bare_line(make_record("lone \udc80"), items) is None  # the general way
