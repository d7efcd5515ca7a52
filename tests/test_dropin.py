"""The wrappers take the standard library's arguments and behave like its classes: keyword
arguments of any name reach the task, the default context is chosen as the standard library
chooses it, and an executor dropped without shutdown() still finishes its calls."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _workers
from tests._helpers import TIMEOUT, close_pool, join_process, shutdown_executor

#: Keywords that collide with the parameter names of a naive wrapper's ``__call__``/``submit``.
KEYWORDS = {"self": 1, "fn": 2, "func": 3, "target": 4, "args": 5, "kwargs": 6}


def test_executor_submit_passes_any_keyword(
    ctx: Any, listen: Callable[..., mplog.Listener]
) -> None:
    """submit(fn, /, *args, **kwargs): keywords named self or fn reach the function."""
    listen()
    executor = mplog.ProcessPoolExecutor(1, mp_context=ctx)
    try:
        result = executor.submit(_workers.echo_call, 0, **KEYWORDS).result(timeout=TIMEOUT)
    finally:
        shutdown_executor(executor)
    assert result == ((0,), KEYWORDS)


def test_pool_apply_passes_any_keyword(ctx: Any, listen: Callable[..., mplog.Listener]) -> None:
    """Pool.apply and apply_async pass kwds named self or func to the function."""
    listen()
    pool = mplog.Pool(1, context=ctx)
    try:
        applied = pool.apply(_workers.echo_call, (0,), KEYWORDS)
        applied_async = pool.apply_async(_workers.echo_call, (), KEYWORDS).get(TIMEOUT)
    finally:
        close_pool(pool)
    assert applied == ((0,), KEYWORDS)
    assert applied_async == ((), KEYWORDS)


def test_process_passes_any_keyword(ctx: Any, listen: Callable[..., mplog.Listener]) -> None:
    """Process(target=f, kwargs={"self": ...}) calls f with those keywords."""
    listen()
    queue = ctx.SimpleQueue()
    process = mplog.Process(target=_workers.put_call, args=(queue, 0), kwargs=KEYWORDS, context=ctx)
    process.start()
    join_process(process)
    assert process.exitcode == 0
    assert queue.get() == ((0,), KEYWORDS)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="max_tasks_per_child is new in 3.11")
def test_executor_max_tasks_per_child_without_context_uses_spawn(
    listen: Callable[..., mplog.Listener],
) -> None:
    """With max_tasks_per_child and no mp_context, the standard library picks spawn (the
    default context may be fork, which refuses the option); so does mplog's executor. (Two
    workers: with one, the standard library itself can hang, CPython gh-115634.)"""
    listen()
    executor = mplog.ProcessPoolExecutor(2, max_tasks_per_child=1)
    try:
        assert executor._mp_context.get_start_method() == "spawn"
        futures = [executor.submit(_workers.task_seq, t, 1) for t in range(4)]
        pids = [future.result(timeout=TIMEOUT) for future in futures]
    finally:
        shutdown_executor(executor)
    assert len(set(pids)) == 4, "each worker must end after its task"


def test_executor_dropped_without_shutdown_finishes_its_calls(
    ctx: Any, listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """map(), then the executor is collected without shutdown(): every call completes, as
    with the standard library, and workers that start after the collection still get their
    index (their counter outlives the executor object)."""
    listener = listen(fmt="%(worker_index)s %(message)s")
    executor = mplog.ProcessPoolExecutor(3, mp_context=ctx)
    results = executor.map(_workers.task_seq, range(6), [1] * 6, timeout=TIMEOUT)
    del executor
    gc.collect()
    assert len(list(results)) == 6
    listener.stop()
    indexes = [line.split()[0] for line in log_path.read_text().splitlines() if " seq " in line]
    assert len(indexes) == 6
    assert set(indexes) <= {"0", "1", "2"}
