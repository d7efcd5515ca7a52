"""mplog.InterpreterPoolExecutor: real subinterpreters (3.14+) log into the listener, each on
its own stream, with task fields, told apart in stats(), ending cleanly at shutdown. Before
3.14 each test checks the error that names the fix instead, so nothing is skipped.

The tasks live in ``tests._workers``, importable only through the path pytest adds at run
time: a subinterpreter does not inherit it (cpython#126714), so these tests also check that
the pool hands main's ``sys.path`` over before anything of the tests is unpickled there.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _workers
from tests._helpers import FMT, check_sequences, read_lines, shutdown_executor, wait_for
from tests.test_context import CTX_FMT, _lines

PY314 = sys.version_info >= (3, 14)


def _needs_314(listener: mplog.Listener) -> None:
    with pytest.raises(RuntimeError, match=r"Python 3\.14 or later.*mplog\.ProcessPoolExecutor"):
        mplog.InterpreterPoolExecutor(2, listener=listener)


def test_is_the_standard_executor_or_says_what_to_do(tmp_path: Path) -> None:
    """On 3.14+ it is a concurrent.futures.InterpreterPoolExecutor; before, creating one
    raises an error naming the Python it needs and the alternative."""
    assert "InterpreterPoolExecutor" in mplog.__all__
    with mplog.setup_listener(tmp_path / "app.log") as listener:
        if not PY314:
            _needs_314(listener)
            return
        with mplog.InterpreterPoolExecutor(1) as executor:
            assert isinstance(executor, concurrent.futures.InterpreterPoolExecutor)


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_every_record_of_every_interpreter_arrives(mode: str, tmp_path: Path) -> None:
    """Two interpreters x six tasks (a user initializer too): every record arrives once and
    in order per interpreter, after shutdown() and stop(); stats() keep each interpreter apart
    from main (same pid), and their ends are goodbyes, not deaths."""
    log_path = tmp_path / "app.log"
    listener = mplog.setup_listener(log_path, mode=mode, fmt=FMT, level="INFO")
    try:
        if not PY314:
            _needs_314(listener)
            return
        _workers.log_seq("main", 5)
        executor = mplog.InterpreterPoolExecutor(
            2, initializer=_workers.user_initializer, initargs=("interp", 7)
        )
        results = list(executor.map(_workers.interpreter_task, range(6), [40] * 6))
        shutdown_executor(executor)
        stats = listener.stop()
    finally:
        listener.stop()
    lines = read_lines(log_path)
    check_sequences(lines, {"main": 5} | {f"t{t}": 40 for t in range(6)}, by="processName")
    pid = os.getpid()
    assert {p for p, _, _ in results} == {pid}
    started = {interp for p, interp in stats["interpreters"]}
    assert set(stats["interpreters"]) == {(pid, i) for i in started} and len(started) == 2
    assert {interp for _, interp, _ in results} <= started and 0 not in started
    names = {p["name"] for p in stats["interpreters"].values()}
    assert names == {f"MainProcess/interp-{i}" for i in started}
    assert {ln["processName"] for ln in lines if ln["message"].startswith("seq t")} <= names
    assert {p["state"] for p in stats["interpreters"].values()} == {"closed"}
    initializer_lines = [ln for ln in lines if ln["name"] == "init"]
    assert {ln["processName"] for ln in initializer_lines} == names
    for line in initializer_lines:
        assert line["message"] == "initializer interp 7 handlers=ShippingHandler"
    assert stats["processes"][pid]["name"] == "MainProcess"
    assert stats["processes"][pid]["received"] == 5
    assert sum(p["received"] for p in stats["interpreters"].values()) == 240 + 2
    assert stats["received"] == 5 + 240 + 2 and stats["workers_seen"] == 3
    assert stats["workers_dead"] == 0 and stats["torn_frames"] == 0
    assert not [ln for ln in lines if ln["name"] == "mplog"], "the listener reported something"


def test_task_fields_and_worker_indexes(tmp_path: Path) -> None:
    """map items and submit calls are tasks numbered in submission order, named after the
    function; each interpreter has a worker index of its own."""
    path = tmp_path / "tasks.log"
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT) as listener:
        if not PY314:
            _needs_314(listener)
            return
        with mplog.InterpreterPoolExecutor(2) as executor:
            assert list(executor.map(_workers.log_item, range(5))) == list(range(5))
            assert executor.submit(_workers.log_item, 5, extra=1).result(60) == 5
    records = {int(f[5].split()[1]): f for f in _lines(path) if f[5].startswith("item")}
    assert sorted(records) == list(range(6))
    for item, fields in records.items():
        assert fields[2:5] == [str(item), "log_item", f"r{item}"], fields
        assert fields[1] in {"0", "1"}
    assert records[5][5] == "item 5 1"


def test_set_level_reaches_running_interpreters(tmp_path: Path) -> None:
    """Listener.set_level() reaches the interpreters (their level reader is a non-daemon
    thread there), and shutting the pool down still ends promptly and cleanly."""
    with mplog.setup_listener(tmp_path / "app.log", level="INFO") as listener:
        if not PY314:
            _needs_314(listener)
            return
        executor = mplog.InterpreterPoolExecutor(1)
        assert executor.submit(_workers.interpreter_task, 0, 1).result(60)[2] == "INFO"
        listener.set_level("app", "WARNING")

        def level() -> Any:
            return executor.submit(_workers.interpreter_task, 1, 0).result(60)[2] == "WARNING"

        wait_for(level, 30, "the level change to reach the interpreter")
        shutdown_executor(executor)
        states = [p["state"] for p in listener.stats()["interpreters"].values()]
    assert states == ["closed"]
