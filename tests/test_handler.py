"""The logging side (mplog._worker.handler): ShippingHandler, WorkerConfig, configure_worker,
and the guarantees that rest on it: children never write the destination themselves, a logging
call never raises or silently drops a record, and what was logged survives abrupt death."""

from __future__ import annotations

import functools
import io
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._worker import handler as worker
from tests import _workers
from tests._helpers import TIMEOUT, check_sequences, join_process, read_lines, shutdown_executor


def _json_listener(mode: str, path: Path) -> mplog.Listener:
    return mplog.setup_listener(
        handlers=functools.partial(_workers.make_json_handlers, str(path)), mode=mode, level="INFO"
    )


def _run_in_executor(ctx: Any, fn: Callable[..., Any], *args: Any) -> Any:
    executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
    try:
        return executor.submit(fn, *args).result(timeout=TIMEOUT)
    finally:
        shutdown_executor(executor)


# -- WorkerConfig and configure_worker -------------------------------------------------------


def test_worker_config_captures_current_levels() -> None:
    """with_current_levels() carries the root level and every explicitly set logger level."""
    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger("cap.a").setLevel(logging.DEBUG)
    config = worker.with_current_levels(mplog.WorkerConfig("/x", "t"))
    assert config.root_level == logging.ERROR
    assert ("cap.a", logging.DEBUG) in config.levels
    assert all(level != logging.NOTSET for _, level in config.levels)


def test_configure_worker_rejects_other_types() -> None:
    """configure_worker() given anything but a WorkerConfig is a TypeError that says where
    to get one; the logging setup is left alone."""
    before = list(logging.getLogger().handlers)
    for bad in ("/tmp/sock", {"address": "/x"}, None):
        with pytest.raises(TypeError, match="WorkerConfig"):
            mplog.configure_worker(bad)  # type: ignore[arg-type]
    assert logging.getLogger().handlers == before


def test_configure_worker_is_idempotent_and_applies_levels() -> None:
    """configure_worker() installs exactly one ShippingHandler on the root logger, keeps it
    when called again for the same listener, and sets the carried levels."""
    config = mplog.WorkerConfig("/nonexistent/sock", "t", logging.INFO, (("cw", logging.ERROR),))
    mplog.configure_worker(config)
    first = logging.getLogger().handlers
    mplog.configure_worker(config)
    assert logging.getLogger().handlers == first
    assert len(first) == 1 and isinstance(first[0], mplog.ShippingHandler)
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("cw").level == logging.ERROR
    assert worker.active_address() == "/nonexistent/sock"


def test_unreachable_listener_falls_back_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    """When the listener cannot be reached the record goes to stderr after a notice saying
    why; the logging call does not raise."""
    handler = mplog.ShippingHandler(mplog.WorkerConfig("/nonexistent/mplog.sock", "t"))
    logger = logging.getLogger("fallback.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("first %d", 1)
        logger.warning("second")
    finally:
        logger.removeHandler(handler)
        handler.close()
    err = capfd.readouterr().err
    assert err.count("cannot reach the log listener") == 1
    assert "first 1" in err and "second" in err


def test_handle_applies_handler_filters_and_returns_like_the_stdlib(tmp_path: Path) -> None:
    """The shipping handler's own filters still decide what is shipped, and handle()
    returns what logging.Handler.handle returns for the same record."""
    listener = mplog.setup_listener(tmp_path / "out.log", fmt="%(message)s", mode="thread")
    handler = mplog.ShippingHandler(listener.worker_config)
    reference = logging.StreamHandler(io.StringIO())  # the stdlib's handle(), unchanged
    try:
        for name, level in (("kept", logging.WARNING), ("filtered", logging.WARNING)):
            record = logging.LogRecord("f", level, __file__, 1, name, None, None)
            assert handler.handle(record) == reference.handle(record)
            if name == "kept":
                handler.addFilter(lambda r: r.getMessage() != "filtered")
                reference.addFilter(lambda r: r.getMessage() != "filtered")
    finally:
        handler.close()
        listener.stop()
    assert (tmp_path / "out.log").read_text().splitlines() == ["kept"]


# -- guarantee 3: no child writes the destination itself -------------------------------------


def test_bare_fork_process_logs_through_listener(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 3: a child of a bare multiprocessing fork Process (not mplog's wrapper)
    inherits main's ShippingHandler, reconnects on its own stream and logs through the
    listener: the listener counts the records under the child's pid, each once."""
    listener = listen(mode)
    process = multiprocessing.get_context("fork").Process(
        target=_workers.log_seq, args=("bare", 30)
    )
    process.start()
    join_process(process)
    assert process.exitcode == 0
    stats = listener.stop()
    lines = read_lines(log_path)
    by_tag = check_sequences(lines, {"bare": 30})
    assert by_tag["bare"][0][0] == process.pid
    assert stats["processes"][process.pid]["received"] == 30
    assert stats["workers_dead"] == 0


def test_bare_configure_worker_in_spawn_child(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """A bare spawn child that calls configure_worker(listener.worker_config) by hand logs
    into the listener at main's levels."""
    listener = listen(mode)
    process = multiprocessing.get_context("spawn").Process(
        target=_workers.configure_and_log, args=(listener.worker_config, "hand", 10)
    )
    process.start()
    join_process(process)
    listener.stop()
    check_sequences(read_lines(log_path), {"hand": 10})


@pytest.mark.parametrize("handler_kind", ("file", "memory"))
def test_os_fork_child_exiting_normally_duplicates_nothing(
    handler_kind: str, tmp_path: Path
) -> None:
    """Guarantee 3: a child os.fork()ed from a process running a thread listener (even while
    the listener is writing, and with a buffering MemoryHandler destination) that exits
    through normal interpreter shutdown (atexit, logging.shutdown) writes nothing into the
    file itself: every line appears exactly once, and the child's records arrive."""
    log = tmp_path / "fork.log"
    script = textwrap.dedent(
        f"""
        import logging, os, sys, threading
        import mplog
        from tests._helpers import FMT
        from tests import _workers

        kind = {handler_kind!r}
        if kind == "file":
            listener = mplog.setup_listener({str(log)!r}, fmt=FMT, level="INFO")
        else:
            listener = mplog.setup_listener(config={{
                "version": 1,
                "formatters": {{"f": {{"format": FMT}}}},
                "handlers": {{
                    "file": {{"class": "logging.FileHandler", "filename": {str(log)!r},
                              "formatter": "f"}},
                    "mem": {{"class": "logging.handlers.MemoryHandler", "capacity": 100000,
                             "flushLevel": 100, "target": "file"}},
                }},
                "root": {{"handlers": ["mem"], "level": "INFO"}},
            }})
        _workers.log_seq("parent-before", 200)
        busy = threading.Thread(target=_workers.log_seq, args=("parent-busy", 2000))
        busy.start()
        pid = os.fork()
        if pid == 0:
            _workers.log_seq("child", 20)
            sys.exit(0)  # normal interpreter shutdown: atexit, logging.shutdown
        busy.join(60)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        _workers.log_seq("parent-after", 200)
        listener.stop()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    expected = {"parent-before": 200, "parent-busy": 2000, "child": 20, "parent-after": 200}
    check_sequences(read_lines(log), expected)


# -- guarantee 4: a logging call never raises, never silently drops --------------------------


def test_hard_records_arrive_readable(ctx: Any, mode: str, tmp_path: Path) -> None:
    """Guarantee 4: unpicklable args and extra= values (lock, lambda, generator), objects
    whose __str__ (and __repr__) raise, a bad format, newlines, non-ASCII, lone surrogates
    and NUL bytes logged in a child all arrive, readable, without raising in the child."""
    path = tmp_path / "records.jsonl"
    listener = _json_listener(mode, path)
    pid = _run_in_executor(ctx, _workers.weird_records)
    listener.stop()
    records = {r.get("case"): r for r in _workers.read_json_records(str(path))}
    expected_cases = {
        "lock_arg", "lambda_arg", "generator_arg", "extras", "bad_str", "bad_both",
        "bad_msg", "bad_format", *_workers.WEIRD_TEXT,
    }  # fmt: skip
    assert set(records) == expected_cases
    assert all(r["process"] == pid for r in records.values())
    assert "lock object" in records["lock_arg"]["message"]
    assert "<function" in records["lambda_arg"]["message"]
    assert "<generator object" in records["generator_arg"]["message"]
    extras = records["extras"]
    assert "lock object" in extras["a_lock"]
    assert "<function" in extras["a_lambda"]
    assert "<generator object" in extras["a_gen"]
    assert records["bad_str"]["message"] == "str raises <BadStr repr>"
    assert records["bad_both"]["message"] == (
        "both raise <unrepresentable BadBoth object: RuntimeError>"
    )
    assert "BadBoth" in records["bad_msg"]["message"]
    assert "not a number" in records["bad_format"]["message"]
    for case, text in _workers.WEIRD_TEXT.items():
        # mplog's JSON lines write a lone surrogate as text (a strict parser rejects it).
        shown = text.encode("utf-8", "backslashreplace").decode() if case == "surrogate" else text
        assert records[case]["message"] == shown


def _run_in_process(listener: mplog.Listener, target: Callable[[], object], method: str) -> None:
    """Run ``target`` in one ``mplog.Process`` started with ``method``, then stop
    ``listener``."""
    process = mplog.Process(target=target, context=multiprocessing.get_context(method))
    process.start()
    join_process(process)
    listener.stop()


def test_hard_text_in_plain_file_destination(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 4: with the default file destination, non-ASCII, lone surrogates and NUL
    bytes end up in a valid UTF-8 file (the surrogate escaped as text), newlines kept."""
    _run_in_process(listen(mode, fmt="%(message)s"), _workers.weird_records, "spawn")
    text = log_path.read_bytes().decode("utf-8")  # strict: the file is valid UTF-8
    assert _workers.WEIRD_TEXT["non_ascii"] + "\n" in text
    assert "bad \\udcff byte\n" in text
    assert "nul \x00 inside\n" in text
    assert "line one\nline two\r\nline three\n" in text


def test_exceptions_arrive_with_traceback(ctx: Any, mode: str, tmp_path: Path) -> None:
    """Guarantee 4: logger.exception() in a child arrives with its traceback text, also for
    an exception that pickle refuses."""
    path = tmp_path / "exc.jsonl"
    listener = _json_listener(mode, path)
    _run_in_executor(ctx, _workers.exception_records)
    listener.stop()
    records = {r.get("case"): r for r in _workers.read_json_records(str(path))}
    zero, unpicklable = records["zero"], records["unpicklable"]
    assert zero["message"] == "division failed"
    assert "Traceback (most recent call last)" in zero["exc_text"]
    assert "ZeroDivisionError: division by zero" in zero["exc_text"]
    assert "Traceback (most recent call last)" in unpicklable["exc_text"]
    assert "UnpicklableError: locked inside" in unpicklable["exc_text"]
    assert "exception_records" in unpicklable["exc_text"]


def test_exception_text_in_file_lines(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 4: a file destination prints the traceback under the record's line."""
    _run_in_process(listen(mode, fmt="%(message)s"), _workers.exception_records, "fork")
    text = log_path.read_text()
    assert "division failed\nTraceback (most recent call last):" in text
    assert "UnpicklableError: locked inside" in text


def test_huge_message_arrives_whole(mode: str, tmp_path: Path) -> None:
    """Guarantee 4: a 5 MB message logged in a child arrives whole and exact."""
    path = tmp_path / "huge.jsonl"
    listener = _json_listener(mode, path)
    size = 5 * 1024 * 1024
    _run_in_executor(multiprocessing.get_context("forkserver"), _workers.huge_record, size)
    listener.stop()
    (record,) = _workers.read_json_records(str(path))
    body = "".join(chr(ord("a") + i % 26) for i in range(26)) * (size // 26 + 1)
    assert len(record["message"]) == size
    assert record["message"] == body[:size]


# -- guarantee 5: abrupt death loses nothing that was logged ---------------------------------


@pytest.mark.parametrize("how", ("os_exit", "sigkill"))
def test_records_survive_abrupt_death(
    how: str, ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 5: records whose logging call returned arrive even when the worker then
    leaves through os._exit(0) or SIGKILLs itself."""
    listener = listen(mode)
    target = _workers.log_then_exit if how == "os_exit" else _workers.log_then_sigkill
    process = mplog.Process(target=target, args=("dying", 300), context=ctx)
    process.start()
    join_process(process)
    assert process.exitcode == (0 if how == "os_exit" else -signal.SIGKILL)
    stats = listener.stop()
    check_sequences(read_lines(log_path), {"dying": 300})
    assert stats["processes"][process.pid]["received"] == 300
    assert stats["torn_frames"] == 0


def test_sigkilled_workers_block_nobody(
    ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 5: workers SIGKILLed at arbitrary moments while logging flat out cannot
    block the other workers or the listener: the others finish, their records are complete
    and in order, every line in the file is intact, and stop() returns promptly."""
    listener = listen(mode)
    victims = []
    for v in range(3):
        ready = ctx.Event()
        p = mplog.Process(target=_workers.log_forever, args=(f"victim{v}", ready), context=ctx)
        p.start()
        victims.append((p, ready))
    steady = [
        mplog.Process(target=_workers.log_seq, args=(f"steady{s}", 2000), context=ctx)
        for s in range(2)
    ]
    for p in steady:
        p.start()
    for delay, (p, ready) in zip((0.0, 0.05, 0.15), victims, strict=True):
        assert ready.wait(TIMEOUT)
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
    for p, _ in victims:
        join_process(p)
        assert p.exitcode == -signal.SIGKILL
    for p in steady:
        join_process(p)
        assert p.exitcode == 0
    started = time.monotonic()
    stats = listener.stop()
    assert time.monotonic() - started < 10
    lines = read_lines(log_path)  # every line parses: nothing torn or interleaved
    victim_lines = [ln for ln in lines if ln["name"] == "victim"]
    for v in range(3):
        seen = [
            int(ln["message"].split()[3]) for ln in victim_lines if f"victim{v} " in ln["message"]
        ]
        assert seen == list(range(len(seen))) and seen, f"victim{v}: gap or reorder"
    check_sequences([ln for ln in lines if ln["name"] == "app"], {"steady0": 2000, "steady1": 2000})
    assert stats["workers_dead"] >= 3
