"""mplog._worker.tasks and the pool wrappers: every task is numbered, named and indexed by
worker."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multiprocess
import pytest

import mplog
from mplog._worker import context as _context
from mplog._worker.tasks import MappedTask, Task
from tests import _workers
from tests._helpers import join_process
from tests.test_context import CTX_FMT, _lines


def test_task_sets_and_resets_task_fields() -> None:
    """A Task runs its function with the task fields set, and clears them afterwards."""
    seen: list[Any] = []

    def probe() -> None:
        seen.append(_context._task.get())

    Task(probe, 7)()
    MappedTask(lambda item: seen.append((item, _context._task.get())), star=False)((3, "x"))
    assert seen[0] == (7, "test_task_sets_and_resets_task_fields.<locals>.probe")
    assert seen[1][0] == "x" and seen[1][1][0] == 3
    assert _context._task.get() == (None, None)


def _pool_calls(pool: Any) -> None:
    pool.map(_workers.log_item, range(3))
    pool.starmap(_workers.log_item, [(3, 1), (4, 1)])
    list(pool.imap(_workers.log_item, range(5, 7)))
    list(pool.imap_unordered(_workers.log_item, range(7, 9)))
    pool.apply(_workers.log_item, (9,))
    pool.apply_async(_workers.log_item, (10,)).get(30)


def _executor_calls(executor: Any) -> None:
    list(executor.map(_workers.log_item, range(3), chunksize=2))
    list(executor.map(_workers.log_item, range(3, 5), [1, 1]))
    for item in range(5, 11):
        executor.submit(_workers.log_item, item).result(30)


CONTEXTS: list[Callable[[str], Any]] = [multiprocessing.get_context, multiprocess.get_context]


@pytest.mark.parametrize("library", CONTEXTS, ids=["stdlib", "multiprocess"])
@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_tasks_are_numbered_in_submission_order(
    tmp_path: Path, start_method: str, library: Callable[[str], Any], kind: str
) -> None:
    """Items 0..10 become tasks 0..10, named after the function, with the right context."""
    path = tmp_path / "tasks.log"
    ctx = library(start_method)
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT):
        if kind == "pool":
            with mplog.Pool(2, context=ctx) as pool:
                _pool_calls(pool)
        else:
            with mplog.ProcessPoolExecutor(2, mp_context=ctx) as executor:
                _executor_calls(executor)
    records = [f for f in _lines(path) if f[5].startswith("item")]
    by_item = {int(f[5].split()[1]): f for f in records}
    assert sorted(by_item) == list(range(11))
    for item, fields in by_item.items():
        assert fields[2] == str(item), f"item {item} ran as task {fields[2]}"
        assert fields[3] == "log_item"
        assert fields[4] == f"r{item}"
    assert {f[1] for f in records} <= {"0", "1"}, "worker indexes must be 0 or 1 in a 2-pool"


def test_worker_index_counts_replacement_workers(tmp_path: Path) -> None:
    """With maxtasksperchild=1 each replacement worker takes the next index."""
    path = tmp_path / "tasks.log"
    with (
        mplog.setup_listener(path, level="INFO", fmt=CTX_FMT),
        mplog.Pool(2, maxtasksperchild=1, context=multiprocessing.get_context("spawn")) as pool,
    ):
        pool.map(_workers.log_item, range(6), chunksize=1)
    indexes = sorted(int(f[1]) for f in _lines(path) if f[5].startswith("item"))
    assert indexes == list(range(6)), "six one-task workers must have indexes 0..5"


def test_bare_process_records_have_no_pool_fields(tmp_path: Path, start_method: str) -> None:
    """A bare mplog.Process runs no pool task: its records carry worker_index, task_id and
    task_name as None, as records outside a pool task do."""
    path = tmp_path / "process.log"
    ctx = multiprocessing.get_context(start_method)
    with mplog.setup_listener(path, level="INFO", fmt=CTX_FMT):
        process = mplog.Process(target=_workers.log_item, args=(5,), context=ctx)
        process.start()
        join_process(process)
        assert process.exitcode == 0
    records = [fields for fields in _lines(path) if fields[5].startswith("item")]
    assert [fields[1:5] for fields in records] == [["None", "None", "None", "r5"]]
