"""The pool wrappers (mplog._pools) and the guarantees they give, under every start method
and both listener modes: lossless, ordered, intact delivery; levels; origins; threads;
nested pools; worker recycling; argument pass-through."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multiprocess
import pytest

import mplog
from tests import _workers
from tests._helpers import (
    TIMEOUT,
    check_sequences,
    close_pool,
    join_process,
    read_lines,
    shutdown_executor,
)

WRAPPERS = ("executor", "pool", "process")


def _run_tasks(wrapper: str, context: Any, tasks: int, n: int) -> list[int]:
    """Run ``task_seq`` ``tasks`` times with the given wrapper; return the workers' pids."""
    if wrapper == "executor":
        executor = mplog.ProcessPoolExecutor(2, mp_context=context)
        try:
            futures = [executor.submit(_workers.task_seq, t, n) for t in range(tasks)]
            return [f.result(timeout=TIMEOUT) for f in futures]
        finally:
            shutdown_executor(executor)
    if wrapper == "pool":
        pool = mplog.Pool(2, context=context)
        try:
            return pool.starmap_async(_workers.task_seq, [(t, n) for t in range(tasks)]).get(
                TIMEOUT
            )
        finally:
            close_pool(pool)
    procs = [
        mplog.Process(target=_workers.task_seq, args=(t, n), context=context) for t in range(tasks)
    ]
    for p in procs:
        p.start()
    for p in procs:
        join_process(p)
        assert p.exitcode == 0
    return [p.pid for p in procs]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_every_record_once_intact_in_order(
    wrapper: str, ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 1: after stop(), every record of main and of every normally exiting child is
    in the file exactly once, as one intact line, in per-process and per-task order; the
    stats agree and no process is reported dead."""
    listener = listen(mode)
    main_pid = os.getpid()
    _workers.log_seq("main-before", 50)
    pids = _run_tasks(wrapper, ctx, tasks=4, n=200)
    _workers.log_seq("main-after", 50)
    stats = listener.stop()

    lines = read_lines(log_path)
    expected = {f"t{t}": 200 for t in range(4)} | {"main-before": 50, "main-after": 50}
    by_tag = check_sequences(lines, expected)
    assert {pid for pid, _ in by_tag["main-before"]} == {main_pid}
    assert {by_tag[f"t{t}"][0][0] for t in range(4)} == set(pids)
    assert len(lines) == 900, [ln for ln in lines if ln["name"] == "mplog"]
    assert stats["received"] == 900
    assert stats["torn_frames"] == 0 and stats["workers_dead"] == 0
    per_pid = Counter(int(ln["process"]) for ln in lines)
    for pid, count in per_pid.items():
        assert stats["processes"][pid]["received"] == count


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_main_levels_apply_in_children(
    wrapper: str, ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 2: root and per-logger levels set in main apply in children under every
    start method, and filtered records are dropped in the child (never shipped)."""
    listener = listen(mode, level="INFO")
    logging.getLogger("noisy").setLevel("WARNING")
    logging.getLogger("verbose").setLevel("DEBUG")
    if wrapper == "executor":
        executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
        try:
            pid = executor.submit(_workers.levels_probe).result(timeout=TIMEOUT)
        finally:
            shutdown_executor(executor)
    elif wrapper == "pool":
        pool = mplog.Pool(1, context=ctx)
        try:
            pid = pool.apply_async(_workers.levels_probe).get(TIMEOUT)
        finally:
            close_pool(pool)
    else:
        queue = ctx.SimpleQueue()
        process = mplog.Process(target=_probe_into, args=(queue,), context=ctx)
        process.start()
        join_process(process)
        pid = queue.get()
    stats = listener.stop()

    messages = sorted(ln["message"] for ln in read_lines(log_path) if int(ln["process"]) == pid)
    assert messages == sorted(
        [
            "noisy warning: kept",
            "app info: kept",
            "verbose debug: kept",
            "verbose.child debug: kept",
        ]
    )
    assert stats["processes"][pid]["received"] == 4


def _probe_into(queue: Any) -> None:
    queue.put(_workers.levels_probe())


@pytest.mark.parametrize("wrapper", ("executor", "pool"))
def test_records_keep_their_origin(
    wrapper: str, ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 7: processName, process, threadName, name, levelname, lineno and funcName
    in the destination are those of the worker (and its thread) that logged."""
    listener = listen(mode)
    if wrapper == "executor":
        executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
        try:
            origin = executor.submit(_workers.origin_probe, "origin.log").result(TIMEOUT)
        finally:
            shutdown_executor(executor)
    else:
        pool = mplog.Pool(1, context=ctx)
        try:
            origin = pool.apply_async(_workers.origin_probe, ("origin.log",)).get(TIMEOUT)
        finally:
            close_pool(pool)
    listener.stop()

    lines = {ln["message"]: ln for ln in read_lines(log_path) if ln["name"] == "origin.log"}
    main_thread, other = lines["origin main-thread"], lines["origin other-thread"]
    assert origin["processName"] != "MainProcess"
    for line in (main_thread, other):
        assert int(line["process"]) == origin["pid"] != os.getpid()
        assert line["processName"] == origin["processName"]
    assert (main_thread["threadName"], other["threadName"]) == ("MainThread", "probe-thread")
    assert (main_thread["levelname"], other["levelname"]) == ("WARNING", "ERROR")
    assert (main_thread["funcName"], other["funcName"]) == ("origin_probe", "in_thread")
    assert int(main_thread["lineno"]) == origin["lineno"]
    assert int(other["lineno"]) == origin["thread_lineno"]


def test_threads_in_worker_keep_per_thread_order(
    ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 6: 8 threads x 500 records logged concurrently in one worker all arrive,
    each as an intact line, each thread's records in order."""
    listener = listen(mode)
    executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
    try:
        pid = executor.submit(_workers.threads_logging, 8, 500).result(timeout=TIMEOUT)
    finally:
        shutdown_executor(executor)
    stats = listener.stop()

    per_thread: dict[str, list[int]] = {}
    for line in read_lines(log_path):
        if line["name"] != "threads":
            continue
        assert int(line["process"]) == pid
        _, t, i = line["message"].split()
        assert line["threadName"] == f"T{t}"
        per_thread.setdefault(t, []).append(int(i))
    assert sorted(per_thread) == [str(t) for t in range(8)]
    for t, seen in per_thread.items():
        assert seen == list(range(500)), f"thread {t}: lost, duplicated or reordered"
    assert stats["processes"][pid]["received"] == 4000


@pytest.mark.parametrize("inner", ("executor", "pool"))
def test_nested_pool_delivers_grandchildren(
    inner: str, ctx: Any, mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 6: a worker that starts its own spawn pool with the wrappers and no explicit
    listener (the worker's active config is used) gets its grandchildren's records delivered."""
    listener = listen(mode)
    executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
    try:
        grandchildren = executor.submit(_workers.nested_pool, inner, 3, 20).result(TIMEOUT)
    finally:
        shutdown_executor(executor)
    listener.stop()

    lines = read_lines(log_path)
    by_tag = check_sequences(lines, {f"t{100 + t}": 20 for t in range(3)})
    assert {pids[0][0] for pids in by_tag.values()} <= set(grandchildren)
    assert os.getpid() not in grandchildren
    assert any(ln["message"].startswith("nested parent") for ln in lines)


def test_pool_maxtasksperchild_one_loses_nothing(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 6: Pool(maxtasksperchild=1) running 300 tasks (300 short-lived workers)
    delivers every record of every task."""
    listener = listen(mode)
    pool = mplog.Pool(2, maxtasksperchild=1, context=multiprocessing.get_context("fork"))
    try:
        pids = pool.starmap_async(_workers.task_seq, [(t, 3) for t in range(300)], chunksize=1).get(
            TIMEOUT
        )
    finally:
        close_pool(pool)
    stats = listener.stop()
    assert len(set(pids)) == 300
    check_sequences(read_lines(log_path), {f"t{t}": 3 for t in range(300)})
    assert stats["workers_dead"] == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="max_tasks_per_child is new in 3.11")
def test_executor_max_tasks_per_child_one_loses_nothing(
    mode: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Guarantee 6: ProcessPoolExecutor(max_tasks_per_child=1) running 40 tasks (forkserver:
    fork is refused by the stdlib for this option) delivers every record."""
    listener = listen(mode)
    executor = mplog.ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("forkserver"), max_tasks_per_child=1
    )
    try:
        futures = [executor.submit(_workers.task_seq, t, 3) for t in range(40)]
        pids = [f.result(timeout=TIMEOUT) for f in futures]
    finally:
        shutdown_executor(executor)
    listener.stop()
    assert len(set(pids)) == 40
    check_sequences(read_lines(log_path), {f"t{t}": 3 for t in range(40)})


@pytest.mark.parametrize("method", ("fork", "spawn", "forkserver"))
@pytest.mark.parametrize("wrapper", ("pool", "process", "executor"))
def test_multiprocess_contexts(
    wrapper: str, method: str, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """The wrappers accept contexts of the ``multiprocess`` package for every start method,
    and the workers' records arrive with their real process names."""
    listener = listen("thread")
    context = multiprocess.get_context(method)
    pids = _run_tasks(wrapper, context, tasks=2, n=5)
    listener.stop()
    lines = read_lines(log_path)
    check_sequences(lines, {"t0": 5, "t1": 5})
    assert set(pids) == {int(ln["process"]) for ln in lines}
    assert all(ln["processName"] != "MainProcess" for ln in lines)


@pytest.mark.parametrize("wrapper", ("executor", "pool"))
def test_user_initializer_is_chained(
    wrapper: str, ctx: Any, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """A user initializer runs in the child with its initargs, after mplog's (so logging is
    already configured), and what it logs arrives."""
    listener = listen("thread")
    if wrapper == "executor":
        executor = mplog.ProcessPoolExecutor(1, ctx, _workers.user_initializer, ("ex", 7))
        try:
            seen = executor.submit(_workers.initialized).result(timeout=TIMEOUT)
        finally:
            shutdown_executor(executor)
    else:
        pool = mplog.Pool(1, _workers.user_initializer, ("po", 7), None, ctx)
        try:
            seen = pool.apply_async(_workers.initialized).get(TIMEOUT)
        finally:
            close_pool(pool)
    listener.stop()
    tag = "ex" if wrapper == "executor" else "po"
    assert seen == [(tag, 7)]
    messages = [ln["message"] for ln in read_lines(log_path) if ln["name"] == "init"]
    assert messages == [f"initializer {tag} 7 handlers=ShippingHandler"]


def test_initializer_must_be_callable(listen: Callable[..., mplog.Listener]) -> None:
    """A non-callable initializer is a TypeError before any worker starts."""
    listen("thread")
    with pytest.raises(TypeError, match="initializer"):
        mplog.ProcessPoolExecutor(1, initializer="nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="initializer"):
        mplog.Pool(1, initializer=42)  # type: ignore[arg-type]
    assert multiprocessing.active_children() == []


def test_executor_passes_standard_arguments(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """ProcessPoolExecutor forwards max_workers and mp_context (and, on 3.11+,
    max_tasks_per_child) to the original."""
    listen("thread")
    kwargs: dict[str, Any] = {}
    if sys.version_info >= (3, 11):
        kwargs["max_tasks_per_child"] = 2
    spawn = multiprocessing.get_context("spawn")
    executor = mplog.ProcessPoolExecutor(max_workers=3, mp_context=spawn, **kwargs)
    try:
        assert executor._max_workers == 3
        assert executor._mp_context is spawn
        if kwargs:
            assert executor._max_tasks_per_child == 2
    finally:
        shutdown_executor(executor)


def test_pool_and_process_pass_standard_arguments(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """Pool forwards processes and maxtasksperchild; Process forwards name, args, kwargs and
    daemon, and returns a process of the given context."""
    listener = listen("thread")
    fork = multiprocessing.get_context("fork")
    pool = mplog.Pool(processes=2, maxtasksperchild=5, context=fork)
    try:
        assert pool._processes == 2
        assert pool._maxtasksperchild == 5
    finally:
        close_pool(pool)
    process = mplog.Process(
        target=_workers.log_seq,
        name="custom-name",
        args=("kw",),
        kwargs={"n": 2},
        daemon=True,
        context=fork,
    )
    assert isinstance(process, fork.Process)
    assert process.name == "custom-name" and process.daemon
    process.start()
    join_process(process)
    assert process.exitcode == 0
    listener.stop()
    assert "seq kw 1 1" in log_path.read_text()


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrappers_without_listener_raise(wrapper: str) -> None:
    """Using a wrapper with no active listener is a RuntimeError naming setup_listener."""
    make: dict[str, Callable[[], Any]] = {
        "executor": lambda: mplog.ProcessPoolExecutor(1),
        "pool": lambda: mplog.Pool(1),
        "process": lambda: mplog.Process(target=print),
    }
    with pytest.raises(RuntimeError, match="setup_listener"):
        make[wrapper]()
    assert multiprocessing.active_children() == []


def test_wrappers_take_explicit_listener(log_path: Path, tmp_path: Path) -> None:
    """listener= selects a listener other than the active one."""
    first = mplog.setup_listener(tmp_path / "first.log", fmt="%(message)s", level="INFO")
    second = mplog.setup_listener(log_path, fmt="%(message)s", level="INFO")
    process = mplog.Process(
        target=_workers.log_seq,
        args=("explicit", 1),
        context=multiprocessing.get_context("spawn"),
        listener=first,
    )
    process.start()
    join_process(process)
    second.stop()
    first.stop()
    assert "seq explicit 0 0" in (tmp_path / "first.log").read_text()
    assert "explicit" not in log_path.read_text()
