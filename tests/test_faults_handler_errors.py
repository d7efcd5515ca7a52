"""Fault injection: a listener handler that fails (closed stream, disk full) beside a good one."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests import _faults
from tests._helpers import join_process, read_lines, wait_received

REPORT = re.compile(
    r"^mplog: handler (?P<handler>.*) failed \((?P<reason>.*)\); the listener goes on"
)
REASONS = {
    "closed_stream": "ValueError: I/O operation on closed file",
    "enospc_raise": "OSError: [Errno 28] No space left on device",
    "enospc_handle_error": "OSError: [Errno 28] No space left on device",
}


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_failing_handler_is_contained(
    ctx: Any, mode: str, kind: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A handler that fails on every record (emit to a closed stream; emit raising
    OSError(ENOSPC) itself or through handleError) sits *before* a good FileHandler: the good
    file still gets every record of every process in order, the listener keeps running (live
    stats answer), stderr names the bad handler exactly once with the reason, and stats
    count one handler error per record."""
    path = tmp_path / "good.log"
    n = 200
    listener = mplog.setup_listener(
        handlers=functools.partial(_faults.good_and_bad_handlers, str(path), kind),
        mode=mode,
        level="INFO",
    )
    try:
        processes = [
            mplog.Process(target=_faults.storm, args=(f"h{k}", n), context=ctx) for k in range(2)
        ]
        for process in processes:
            process.start()
        _faults.storm("main", n)
        for process in processes:
            join_process(process, 60)
        live = wait_received(listener, 3 * n)
        assert live["handler_errors"] == 3 * n
        assert live["written"] == 0  # "written" means written by every handler
        final = listener.stop()
    finally:
        listener.stop()
    by_tag = _faults.seq_by_tag(read_lines(path))
    for tag in ("h0", "h1", "main"):
        _faults.assert_complete(by_tag, tag, n)
    # Closing the handlers at stop may fail once more (flushing a closed stream).
    assert final["handler_errors"] in (3 * n, 3 * n + 1)
    assert final["received"] == 3 * n
    err = capfd.readouterr().err
    reports = [m for m in map(REPORT.match, err.splitlines()) if m]
    assert len(reports) == 1, err
    assert reports[0]["reason"] == REASONS[kind]
    expected = "<StreamHandler" if kind == "closed_stream" else "<RaisingHandler enospc>"
    assert reports[0]["handler"].startswith(expected)
