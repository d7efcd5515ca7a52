"""The line plan end to end: for every configuration the processes can write lines for, the
files are byte for byte those the record path writes (``MPLOG_RECORD_PATH=1``), on a large
hostile corpus (``tests/_corpus.py``), under every start method."""

from __future__ import annotations

import json
import logging
import marshal
import multiprocessing
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog import _protocol
from mplog._frames import FrameReader
from mplog._lineplan import DESTS_FIELD, RECORD, JsonFormat, LinePlan, Output, Route, TextFormat
from mplog._outputs.plan import RECORD_PATH_ENV
from mplog._protocol import NO_LINE
from mplog._worker import context
from mplog._worker.lines import PlanLines, make_formatter
from tests import _corpus

PARTS = 3
PER_PART = 420
FMT_A = "%(asctime)s %(process)d %(processName)s %(name)s %(levelname)s %(message)s"
FMT_B = "{asctime} {levelname:>8} {name} {message} [{custom}] {task_name}"


def _json(out: Path) -> dict[str, Any]:
    return {"filename": out / "app.jsonl", "json": True, "level": 1}


def _handlers(out: Path) -> dict[str, Any]:
    a = logging.FileHandler(out / "a.log")  # locale encoding, strict errors: some fail
    a.setFormatter(logging.Formatter(FMT_A, datefmt="%H:%M:%S"))
    stream = open(out / "b.log", "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
    b = logging.StreamHandler(stream)
    b.setLevel(logging.WARNING)
    b.setFormatter(logging.Formatter(FMT_B, style="{", defaults={"custom": "-"}))
    c = logging.FileHandler(out / "c.log", encoding="ascii", errors="replace", delay=True)
    gmt = logging.Formatter("$asctime|$levelno|$exc_text|$message", style="$")
    gmt.converter = time.gmtime
    gmt.default_msec_format = "%s.%03d"
    c.setFormatter(gmt)
    c.terminator = "\r\n"
    d = logging.FileHandler(out / "d.jsonl", encoding="utf-8", errors="backslashreplace")
    d.setFormatter(mplog.JsonFormatter(utc=True, static={"svc": "corpus"}, encoder="json"))
    d.setLevel(logging.INFO)
    e = logging.FileHandler(out / "e.log", encoding="utf-8", errors="backslashreplace")
    e.addFilter(lambda record: "extras" in record.getMessage())  # keeps the record path
    e.setLevel(logging.ERROR)  # what reaches it goes whole; the lower records, as lines
    e.setFormatter(logging.Formatter(FMT_A))
    return {"handlers": [c, a, b, d, e], "level": 1}  # c first: nothing cached before it


def _config(out: Path) -> dict[str, Any]:
    def file(name: str, formatter: str, level: str = "NOTSET") -> dict[str, Any]:
        return {
            "class": "logging.FileHandler",
            "filename": str(out / name),
            "formatter": formatter,
            "level": level,
            "encoding": "utf-8",
            "errors": "backslashreplace",
        }

    config = {
        "version": 1,
        "formatters": {
            "a": {"format": FMT_A},
            "b": {"format": FMT_B, "style": "{", "defaults": {"custom": "none"}},
            "json": {"()": "mplog.JsonFormatter"},
        },
        "filters": {"db_only": {"name": "app.db"}, "app_only": {"name": "app"}},
        "handlers": {
            "app": file("app.log", "a", "DEBUG"),
            "db": file("db.log", "b", "INFO"),
            "all": file("all.jsonl", "json", "WARNING"),
            # What reaches a filtered handler goes whole; the lower records, as lines.
            "filtered": {**file("filtered.log", "a", "ERROR"), "filters": ["app_only"]},
        },
        "loggers": {
            "app": {"handlers": ["app", "filtered"], "level": "DEBUG"},
            "app.db": {"handlers": ["db"], "level": 5, "propagate": False},
            "other": {"handlers": ["app"], "filters": ["db_only"]},
        },
        "root": {"handlers": ["all", "filtered"], "level": "INFO"},
    }
    return {"config": config}


def _rotating(out: Path) -> dict[str, Any]:
    text = mplog.RotatingHandler(out / "text.log", max_bytes=60_000)
    text.setFormatter(logging.Formatter(FMT_A))
    lines = mplog.RotatingHandler(out / "json.log", max_bytes="100 KB")
    lines.setFormatter(mplog.JsonFormatter())
    return {"handlers": [text, lines], "level": 1}


CONFIGS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "json": _json,
    "handlers": _handlers,
    "dictconfig": _config,
    "rotating": _rotating,
}


def _run(
    out: Path, make: Callable[[Path], dict[str, Any]], method: str, **options: Any
) -> dict[str, Any]:
    out.mkdir()
    listener = mplog.setup_listener(**make(out), **options)
    ctx = multiprocessing.get_context(method)
    try:
        # One worker, one part at a time: the order of the records is the same in both runs.
        with mplog.ProcessPoolExecutor(1, mp_context=ctx) as pool:
            for part in range(PARTS):
                assert pool.submit(_corpus.log_corpus, part, PER_PART).result(60) == PER_PART
    finally:
        stats = listener.stop()
    return stats


#: The spawned process's command line, in stack_info: file descriptors vary between runs.
_SPAWN_FDS = re.compile(rb"(tracker_fd|pipe_handle)=\d+")


def _contents(out: Path) -> list[tuple[str, bytes]]:
    """Every file's bytes; rotated files by content (their names carry the time)."""
    found = []
    for path in out.iterdir():
        base = path.name.split(".")[0] + "." + path.name.split(".")[1]
        found.append((base, _SPAWN_FDS.sub(rb"\1=N", path.read_bytes())))
    return sorted(found)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_lines_are_byte_for_byte_the_record_paths(
    name: str, start_method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = {}
    for path in ("records", "lines"):  # one call site: a forked stack_info is the same
        monkeypatch.setenv(RECORD_PATH_ENV, "1" if path == "records" else "0")
        stats[path] = _run(tmp_path / path, CONFIGS[name], start_method)
    by_records, by_lines = stats["records"], stats["lines"]
    expected, got = _contents(tmp_path / "records"), _contents(tmp_path / "lines")
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (file, want), (_, have) in zip(expected, got, strict=True):
        assert want, f"{name}: {file} is empty: the corpus must reach every handler"
        assert have == want, f"{name}: {file} differs from the record path's"
    assert by_lines["handler_errors"] == by_records["handler_errors"]
    if name == "dictconfig":  # a record no handler takes (its level) is not even sent
        assert 0 < by_lines["received"] < by_records["received"] < PARTS * PER_PART
    else:
        assert by_lines["received"] == by_records["received"] == PARTS * PER_PART
    if name == "rotating":
        assert len(got) > 4, "the corpus must rotate both files more than once"


def test_the_worker_formats_lines_in_a_listener_process(tmp_path: Path, start_method: str) -> None:
    """``mode="process"``: the plan comes back from the listener process with its address."""
    ctx = multiprocessing.get_context(start_method)
    listener = mplog.setup_listener(tmp_path / "app.jsonl", json=True, mode="process")
    try:
        assert listener.worker_config.plan is not None
        with mplog.ProcessPoolExecutor(2, mp_context=ctx) as pool:
            assert sum(pool.map(_corpus.log_corpus, range(2), [50, 50], timeout=60)) == 100
    finally:
        stats = listener.stop()
    records = [json.loads(line) for line in (tmp_path / "app.jsonl").read_text().splitlines()]
    assert len(records) == stats["received"] == stats["written"]
    assert {r["level"] for r in records} >= {"WARNING", "ERROR", "CRITICAL"}


def test_every_process_over_tcp_routes_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``address=(host, port)``: processes over TCP send lines and records naming their
    handlers too; the files are the record path's (nothing written twice)."""
    for path in ("records", "lines"):
        monkeypatch.setenv(RECORD_PATH_ENV, "1" if path == "records" else "0")
        _run(tmp_path / path, _handlers, "forkserver", address=("127.0.0.1", 0))
    expected, got = _contents(tmp_path / "records"), _contents(tmp_path / "lines")
    assert got == expected and all(data for _, data in got)


def _logged_json(lines: PlanLines, log: logging.Logger, **extra: Any) -> tuple[bytes, bytes]:
    """(the line ``lines`` ships for one record, the line the record path writes for it)."""
    record = log.makeRecord(log.name, logging.INFO, "/a/b.py", 7, "n=%d", (1,), None, "f", extra)
    shipped = logging.makeLogRecord(dict(record.__dict__))  # as the record path gets it
    shipment = lines.ship(record)
    context.stamp(shipped)
    rebuilt = _protocol.make_record(_protocol.wire_fields(shipped))
    expected = (make_formatter(lines.plan.formats[0]).format(rebuilt) + "\n").encode()
    assert shipment is not None and shipment[1] == 0 and shipment[3] == b""  # one line
    return shipment[2], expected


@pytest.mark.parametrize("encoder", ["json", "auto"])  # auto: orjson, when installed
@pytest.mark.parametrize("static", [(), (("svc", "s"),), (("hostname", "h"),)])
def test_json_lines_hold_the_fields_the_record_path_stamps(static: Any, encoder: str) -> None:
    """The pool fields' text a process writes once per task (not stamped per record) is
    what the record path's stamped record gives: inside and outside a task, with a worker
    index, with ``context()`` fields, an engine's provider, ``extra=`` of a pool field's
    name (plain or not), and a ``static`` field of such a name."""
    spec = JsonFormat(utc=True, encoder=encoder, static=static)
    lines = PlanLines(LinePlan((spec,), (Output(0),), Route((0,))))
    log = logging.getLogger("json.fields")
    saved = context._worker_index
    cases: list[tuple[bytes, bytes]] = []
    try:
        cases.append(_logged_json(lines, log))
        context.set_worker_index(3)
        with context.running_task(11, "job-11"):
            cases += [_logged_json(lines, log), _logged_json(lines, log, k="v")]
            cases.append(_logged_json(lines, log, task_id="mine"))
            cases.append(_logged_json(lines, log, hostname=object()))
            with mplog.context(request_id="r-1"):
                cases.append(_logged_json(lines, log))
        with context.running_task(12, "job-12"):  # another task: its own text
            cases.append(_logged_json(lines, log))
        context.add_provider(_provider)
        try:
            cases.append(_logged_json(lines, log))
        finally:
            context.remove_provider(_provider)
        cases.append(_logged_json(lines, log))
    finally:
        context.set_worker_index(saved)
    for got, want in cases:
        assert got == want
    if encoder == "json" and not static:  # written once per task, not stamped
        assert lines._pool_text[0] is not None
    assert b'"worker_index":3,"task_id":12,"task_name":"job-12"' in cases[-3][0]
    assert b'"engine":"e-1"' in cases[-2][0]


def _provider() -> dict[str, Any]:
    return {"engine": "e-1"}


def test_a_record_for_a_handler_that_needs_it_goes_whole() -> None:
    """A record that reaches a handler the process cannot reproduce (a custom ``emit``) goes
    to the listener whole, for every handler it reaches (the record path); a record below
    that handler's level goes as a line (a plain file beside a custom handler)."""
    text = TextFormat("%(levelname)s %(message)s")
    plan = LinePlan((text,), (Output(0), Output(RECORD, logging.ERROR)), Route((0, 1)))
    lines = PlanLines(plan)
    log = logging.getLogger("whole.or.lines")
    info = lines.ship(log.makeRecord(log.name, logging.INFO, "/a.py", 1, "fine", (), None))
    error = lines.ship(log.makeRecord(log.name, logging.ERROR, "/a.py", 2, "bad", (), None))
    assert info == (logging.INFO, 0, b"INFO fine\n", b"")
    assert error is not None and error[:3] == (logging.ERROR, NO_LINE, b"")
    [(kind, body)] = FrameReader().feed(error[3])
    fields = marshal.loads(body)
    assert kind == _protocol.KIND_RECORD and fields["msg"] == "bad"
    assert DESTS_FIELD not in fields  # not routed by the process: the listener routes it
