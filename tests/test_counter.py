"""mplog._counter: worker indices shared by a pool's workers, under every start method."""

from __future__ import annotations

import gc
import pickle
from typing import Any

import pytest

from mplog._counter import WorkerCounter
from tests import _workers
from tests._helpers import join_process


def test_numbers_are_unique_and_consecutive(ctx: Any) -> None:
    """Processes taking numbers at once get 0..n-1, each exactly once."""
    counter = WorkerCounter()
    queue = ctx.SimpleQueue()
    processes = [ctx.Process(target=_workers.take_number, args=(counter, queue)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        join_process(process)
        assert process.exitcode == 0
    assert sorted(queue.get() for _ in processes) == list(range(6))


def test_counter_outlives_the_parents_object(ctx: Any) -> None:
    """A child that unpickles the counter after the parent dropped it still takes a number
    (a ctx.Value's named semaphore is gone by then: FileNotFoundError in the child)."""
    counter = WorkerCounter()
    queue = ctx.SimpleQueue()
    first = ctx.Process(target=_workers.take_number, args=(counter, queue))
    first.start()
    second = ctx.Process(target=_workers.take_number, args=(counter, queue))
    second.start()
    del counter
    gc.collect()
    for process in (first, second):
        join_process(process)
        assert process.exitcode == 0
    assert sorted([queue.get(), queue.get()]) == [0, 1]


def test_counter_travels_only_with_a_starting_process() -> None:
    """Pickled elsewhere, the counter's descriptor could not follow: a TypeError says so."""
    with pytest.raises(TypeError, match="process being started"):
        pickle.dumps(WorkerCounter())


def test_one_number_per_process() -> None:
    """take() closes this process's descriptor: a worker takes its index once."""
    counter = WorkerCounter()
    assert counter.take() == 0
    with pytest.raises(OSError):
        counter.take()
