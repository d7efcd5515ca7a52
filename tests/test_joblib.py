"""mplog.joblib.install(): every later joblib Parallel (loky and multiprocessing backends) and
loky executor logs into the listener, across reused executors and respawned workers."""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests._helpers import check_sequences, read_lines, wait_for
from tests._workers import INITIALIZED, log_seq, task_seq, user_initializer

joblib = pytest.importorskip("joblib", reason="joblib is not installed (the joblib extra)")
from joblib.externals.loky.process_executor import TerminatedWorkerError  # noqa: E402

import mplog.joblib  # noqa: E402

LOKY_PACKAGES = [
    pytest.param(name, marks=pytest.mark.skipif(not _spec, reason=f"{name} is not installed"))
    for name, _spec in (
        ("joblib.externals.loky", True),
        ("loky", importlib.util.find_spec("loky") is not None),
    )
]


def _executor(package: str = "joblib.externals.loky") -> Any:
    """The reusable executor of ``package`` (None when there is none)."""
    module = importlib.import_module(package + ".reusable_executor")
    return mplog.joblib.reusable_state(module)[0]


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    """install() for the test; afterwards uninstall and end the reusable executors."""
    mplog.joblib.install()
    try:
        yield
    finally:
        mplog.joblib.uninstall()
        for package in mplog.joblib.LOKY_PACKAGES:
            if importlib.util.find_spec(package.split(".")[0]) is not None:
                executor = _executor(package)
                if executor is not None:
                    executor.shutdown(wait=True, kill_workers=True)


def _parallel(tags: range, n: int, **kwargs: Any) -> list[int]:
    return joblib.Parallel(n_jobs=2, **kwargs)(joblib.delayed(task_seq)(t, n) for t in tags)


def _pids_gone(pids: set[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_state(_: object = None) -> tuple[int, int | None, list[Any]]:
    """In a worker: its pid, its mplog worker index, what the user initializer recorded."""
    from mplog._worker import context

    return os.getpid(), context._worker_index, list(INITIALIZED)


def log_then_kill(tag: str, n: int) -> None:
    """Log ``n`` records, then SIGKILL this worker."""
    log_seq(tag, n)
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_issue_every_later_parallel_logs(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """The issue's reproduction: 20 of 20 records from the first Parallel, and 20 of 20 (not
    0) from the next one without any argument, which reuses the same loky workers."""
    with listen() as listener:
        _parallel(range(2), 10)
        executor = _executor()
        _parallel(range(2, 4), 10)
        assert _executor() is executor, "executor not reused"
        stats = listener.stop()
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(4)})
    assert stats["received"] == 40
    assert stats["workers_dead"] == 0
    names = {line["processName"] for line in read_lines(log_path)}
    assert all(name.startswith("LokyProcess-") for name in names), names


def fail(n: int) -> None:
    """A task that logs, then raises."""
    logging.getLogger("app").info("failing %d", n)
    raise ValueError(f"task {n} failed")


def test_a_failed_task_ends_workers_without_reported_deaths(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """When a task raises, joblib kills the loky workers (kill_workers=True): the ends are
    announced, so stats() records them instead of reporting deaths; the next Parallel gets
    new, configured workers."""
    with listen() as listener:
        with pytest.raises(ValueError, match="task 0 failed"):
            joblib.Parallel(n_jobs=2)([joblib.delayed(fail)(0)])
        _parallel(range(2), 10)
        stats = listener.stop()
    lines = read_lines(log_path)
    check_sequences(lines, {"t0": 10, "t1": 10})
    assert [line["message"] for line in lines if line["message"].startswith("fail")] == [
        "failing 0"
    ]
    assert stats["workers_dead"] == 0
    states = [p["state"] for p in stats["processes"].values()]
    assert any(state.startswith("ended by loky shutdown(kill_workers=True)") for state in states)


def test_workers_respawned_after_idle_timeout_log(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """loky ends idle workers after idle_worker_timeout and starts new ones for the next
    Parallel: those are configured too, and the ended ones said goodbye (no deaths)."""
    with listen() as listener, joblib.parallel_config(backend="loky", idle_worker_timeout=0.5):
        first = set(_parallel(range(2), 10))
        wait_for(lambda: _pids_gone(first), 30, "the idle loky workers to exit")
        second = set(_parallel(range(2, 4), 10))
        stats = listener.stop()
    assert not first & second, "the second Parallel ran in the first one's workers"
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(4)})
    assert stats["workers_dead"] == 0


def test_a_killed_worker_loses_nothing_and_its_successors_log(
    listen: Callable[..., mplog.Listener], log_path: Path
) -> None:
    """A worker SIGKILLed after logging breaks that Parallel (TerminatedWorkerError), but
    every record it logged is in the file once; the next Parallel gets new, configured
    workers."""
    with listen() as listener:
        with pytest.raises(TerminatedWorkerError, match="SIGKILL"):
            joblib.Parallel(n_jobs=2)([joblib.delayed(log_then_kill)("k0", 10)])
        after = _parallel(range(2), 10)
        stats = listener.stop()
    lines = read_lines(log_path)
    check_sequences(lines, {"k0": 10, "t0": 10, "t1": 10})
    killed = {int(line["process"]) for line in lines if line["message"].startswith("seq k0 ")}
    assert not killed & set(after)
    assert stats["received"] == 30
    assert stats["workers_dead"] >= 1  # a real death is still reported


@pytest.mark.parametrize("package", LOKY_PACKAGES)
@pytest.mark.parametrize("method", ["loky", "spawn", "forkserver"])
def test_get_reusable_executor(
    listen: Callable[..., mplog.Listener], log_path: Path, package: str, method: str
) -> None:
    """loky.get_reusable_executor under loky's own start method, spawn and forkserver: every
    worker logs, gets a worker index, and the user's initializer runs after mplog's."""
    get_reusable_executor = importlib.import_module(package).get_reusable_executor
    with listen() as listener:
        executor = get_reusable_executor(
            max_workers=2,
            context=method,
            initializer=user_initializer,
            initargs=("loky", 7),
        )
        futures = [executor.submit(task_seq, t, 10) for t in range(4)]
        pids = {f.result(timeout=60) for f in futures}
        states = [executor.submit(worker_state).result(timeout=60) for _ in range(4)]
        again = get_reusable_executor(
            max_workers=2, context=method, initializer=user_initializer, initargs=("loky", 7)
        )
        assert again is executor, "the executor was not reused"
        executor.shutdown(wait=True)
        stats = listener.stop()
    lines = read_lines(log_path)
    check_sequences(lines, {f"t{t}": 10 for t in range(4)})
    for _pid, index, initialized in states:
        assert index in (0, 1)
        assert initialized == [("loky", 7)]
    initializer_lines = [line for line in lines if line["name"] == "init"]
    assert {int(line["process"]) for line in initializer_lines} >= pids
    assert all("handlers=ShippingHandler" in line["message"] for line in initializer_lines)
    assert stats["workers_dead"] == 0


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_backend(
    listen: Callable[..., mplog.Listener], log_path: Path, method: str
) -> None:
    """backend="multiprocessing" (a new pool per Parallel) under each start method: every
    record arrives once, twice in a row; the pool's terminate() at the end is announced, so
    no worker is reported dead."""
    context = multiprocessing.get_context(method)
    with listen() as listener:
        _parallel(range(2), 10, backend=context)
        _parallel(range(2, 4), 10, backend=context)
        states = joblib.Parallel(n_jobs=2, backend=context)(
            joblib.delayed(worker_state)() for _ in range(2)
        )
        stats = listener.stop()
    check_sequences(read_lines(log_path), {f"t{t}": 10 for t in range(4)})
    assert all(index is not None for _, index, _ in states)
    assert stats["workers_dead"] == 0
    assert all(p["state"] != "connected" for p in stats["processes"].values())


def test_a_new_listener_gets_new_workers(tmp_path: Path) -> None:
    """Under a second listener the reusable executor is replaced (its workers shipped to the
    first one): each listener's file gets its own Parallel's records."""
    paths = [tmp_path / "one.log", tmp_path / "two.log"]
    executors = []
    for n, path in enumerate(paths):
        with mplog.setup_listener(path, fmt=_fmt(), level="INFO"):
            _parallel(range(2 * n, 2 * n + 2), 10)
            executors.append(_executor())
    assert executors[0] is not executors[1]
    check_sequences(read_lines(paths[0]), {"t0": 10, "t1": 10})
    check_sequences(read_lines(paths[1]), {"t2": 10, "t3": 10})


def _fmt() -> str:
    from tests._helpers import FMT

    return FMT


def test_explicit_listener(tmp_path: Path, log_path: Path) -> None:
    """install(listener=...) ships to that listener, not to the active one."""
    with mplog.setup_listener(log_path, fmt=_fmt(), level="INFO") as chosen:
        other = tmp_path / "other.log"
        with mplog.setup_listener(other, fmt=_fmt(), level="INFO"):
            mplog.joblib.install(listener=chosen)
            _parallel(range(2), 10)
    check_sequences(read_lines(log_path), {"t0": 10, "t1": 10})
    assert not [line for line in read_lines(other) if line["message"].startswith("seq ")]


def test_without_a_listener_parallel_says_what_to_do() -> None:
    """Installed but no listener running: Parallel fails and names the fix."""
    with pytest.raises(RuntimeError, match="setup_listener"):
        _parallel(range(2), 1)


def test_uninstall_and_with_block() -> None:
    """uninstall() puts loky's and joblib's originals back; install() works as a with block."""
    from joblib.externals.loky.process_executor import ProcessPoolExecutor
    from joblib.pool import MemmappingPool

    patched = (ProcessPoolExecutor.__init__, MemmappingPool.__init__)
    mplog.joblib.uninstall()
    assert not mplog.joblib.installed()
    originals = (ProcessPoolExecutor.__init__, MemmappingPool.__init__)
    assert patched[0] is not originals[0] and patched[1] is not originals[1]
    with mplog.joblib.install():
        assert mplog.joblib.installed()
        assert ProcessPoolExecutor.__init__ is not originals[0]
    assert (ProcessPoolExecutor.__init__, MemmappingPool.__init__) == originals
