"""mplog._worker.levels: levels captured in main apply in children; Listener.set_level
reaches them."""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import pytest

import mplog
from mplog._worker.levels import apply_levels, capture_levels
from tests import _workers
from tests._helpers import wait_for


def test_capture_and_apply_round_trip() -> None:
    """Levels captured here, applied elsewhere, give the same effective levels."""
    logging.getLogger("cap.a").setLevel("ERROR")
    root, levels = capture_levels()
    assert ("cap.a", logging.ERROR) in levels
    logging.getLogger("cap.a").setLevel("DEBUG")
    apply_levels(root, levels)
    assert logging.getLogger("cap.a").level == logging.ERROR


@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_set_level_reaches_running_workers(
    tmp_path: Path, start_method: str, mode: str, kind: str
) -> None:
    """DEBUG turned on for one subsystem reaches a running pool's busy workers, and no
    DEBUG record was shipped before it. The change waits until both workers run their task:
    a spawn or forkserver worker can take over a second to start on a loaded machine, and
    one that starts after the change is not the case under test (it gets the level when it
    connects)."""
    path = tmp_path / "live.log"
    ctx = multiprocessing.get_context(start_method)
    fmt = "%(created)f %(levelname)s %(message)s"
    with mplog.setup_listener(path, level="INFO", fmt=fmt, mode=mode) as listener:
        pool = (
            mplog.Pool(2, context=ctx)
            if kind == "pool"
            else mplog.ProcessPoolExecutor(2, mp_context=ctx)
        )
        with pool:
            if kind == "pool":
                results = pool.map_async(_workers.wait_for_debug, [30.0, 30.0], chunksize=1)
            else:
                futures = [pool.submit(_workers.wait_for_debug, 30.0) for _ in range(2)]
            wait_for(lambda: listener.stats()["received"] >= 2, 60, "both workers to run a task")
            changed_at = time.time()
            listener.set_level("sub", "DEBUG")
            seen = results.get(60) if kind == "pool" else [f.result(60) for f in futures]
    # -1.0: a worker never saw it (its task gave up after 30 s).
    assert all(t > changed_at for t in seen), f"changed at {changed_at}, seen at {seen}"
    lines = path.read_text("utf-8").splitlines()
    assert sum("debug enabled" in line for line in lines) == 2
    for line in lines:
        if " DEBUG " in line:
            assert float(line.split()[0]) >= changed_at - 0.01, f"DEBUG shipped early: {line}"


def test_set_level_on_a_stopped_listener_is_an_error(tmp_path: Path) -> None:
    """set_level after stop() says the listener is not running."""
    listener = mplog.setup_listener(tmp_path / "x.log")
    listener.stop()
    with pytest.raises(RuntimeError, match="not running"):
        listener.set_level("x", "DEBUG")
