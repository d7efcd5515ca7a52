"""mplog.pathos.ProcessPool: pathos's process pool with every worker logging into the
listener, under every start method, with replacements and pathos's pool cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests._helpers import call_within, check_sequences, dill_cannot_pickle_functions, read_lines
from tests._workers import initialized, task_seq, user_initializer

pytest.importorskip("pathos", reason="pathos is not installed (the pathos extra)")
multiprocess = pytest.importorskip("multiprocess", reason="multiprocess is not installed")
import mplog.pathos  # noqa: E402

_DILL_PROBLEM = dill_cannot_pickle_functions()
#: pathos's map, amap and uimap ship a wrapper function by value (dill); apipe does not.
needs_dill_functions = pytest.mark.skipif(_DILL_PROBLEM is not None, reason=str(_DILL_PROBLEM))


def _finish(pool: Any) -> None:
    """close(), join() within a bound, and drop the pool from pathos's cache."""
    pool.close()
    call_within(pool.join, what="pathos pool join")
    pool.clear()


@needs_dill_functions
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_record_arrives(
    listen: Callable[..., mplog.Listener], log_path: Path, method: str
) -> None:
    """map, amap and uimap tasks under each multiprocess start method: every record once,
    in order per process; the workers' ends are clean (no deaths)."""
    context = multiprocess.get_context(method)
    with listen() as listener:
        pool = mplog.pathos.ProcessPool(2, context=context, id=f"mplog-{method}")
        pool.map(task_seq, range(4), [10] * 4)
        pool.amap(task_seq, range(4, 6), [10] * 2).get(60)
        list(pool.uimap(task_seq, range(6, 8), [10] * 2))
        _finish(pool)
        stats = listener.stop()
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(8)})
    assert stats["workers_dead"] == 0


@needs_dill_functions
def test_default_context_one_liner(listen: Callable[..., mplog.Listener], log_path: Path) -> None:
    """The README's one-liner, with pathos's default context."""
    with listen():
        pool = mplog.pathos.ProcessPool(2, id="mplog-default")
        pool.map(task_seq, range(4), [10] * 4)
        _finish(pool)
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(4)})


def test_replacement_workers_log(listen: Callable[..., mplog.Listener], log_path: Path) -> None:
    """maxtasksperchild=1: every task runs in a new worker, and each one is configured."""
    context = multiprocess.get_context("spawn")
    with listen():
        pool = mplog.pathos.ProcessPool(2, context=context, maxtasksperchild=1, id="mplog-mt")
        pids = [pool.apipe(task_seq, t, 10).get(60) for t in range(4)]
        _finish(pool)
    assert len(set(pids)) == 4
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(4)})


@needs_dill_functions
def test_user_initializer_and_cache(listen: Callable[..., mplog.Listener], log_path: Path) -> None:
    """The user's initializer runs after mplog's; a second ProcessPool with the same
    arguments gets pathos's cached pool (mplog's initializer compares equal)."""
    context = multiprocess.get_context("spawn")
    kwargs: dict[str, Any] = {
        "context": context,
        "initializer": user_initializer,
        "initargs": ("pathos", 3),
        "id": "mplog-init",
    }
    with listen():
        pool = mplog.pathos.ProcessPool(2, **kwargs)
        results = pool.map(initialized, range(4))
        again = mplog.pathos.ProcessPool(2, **kwargs)
        assert again._serve() is pool._serve(), "pathos did not reuse its cached pool"
        _finish(pool)
    assert results == [[("pathos", 3)]] * 4
    init_lines = [line for line in read_lines(log_path) if line["name"] == "init"]
    assert init_lines
    assert all("handlers=ShippingHandler" in line["message"] for line in init_lines)


@needs_dill_functions
def test_terminate_is_announced(listen: Callable[..., mplog.Listener], log_path: Path) -> None:
    """terminate() records the workers' ends in stats() instead of reporting deaths (or
    the workers had already said goodbye)."""
    with listen() as listener:
        pool = mplog.pathos.ProcessPool(2, context=multiprocess.get_context("spawn"), id="t")
        pool.map(task_seq, range(2), [5] * 2)
        pool.terminate()
        call_within(pool.join, what="pathos pool join")
        pool.clear()
        stats = listener.stop()
    check_sequences(read_lines(log_path), {"t0": 5, "t1": 5})
    assert stats["workers_dead"] == 0
    # A worker that had already left (the pool sends them sentinels first) said goodbye.
    states = [p["state"] for p in stats["processes"].values()]
    assert all(s == "closed" or s.startswith("ended by terminate()") for s in states), states


def test_without_a_listener_says_what_to_do() -> None:
    """No listener running: the pool refuses to start and names the fix."""
    with pytest.raises(RuntimeError, match="setup_listener"):
        mplog.pathos.ProcessPool(2, id="mplog-none")
