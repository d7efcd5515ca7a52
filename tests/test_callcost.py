"""mplog._callcost: the demo's side-by-side cost of one logging call (never a timed
assertion: only that both kinds were measured and every mplog record arrived)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mplog import _callcost


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_both_kinds_are_measured_and_nothing_is_lost(tmp_path: Path, mode: str) -> None:
    """Each kind is timed; every call's record is in its file; the FileHandler is gone after."""
    cost = _callcost.measure(str(tmp_path), mode, rounds=3, calls=200)  # type: ignore[arg-type]
    assert cost.complete
    assert cost.mplog_us > 0 and cost.file_us > 0
    assert (cost.rounds, cost.calls) == (3, 200)
    assert len((tmp_path / "filehandler.log").read_text().splitlines()) == 600
    mplog_lines = (tmp_path / "mplog.log").read_text().splitlines()
    assert sum(" demo.callcost.mplog INFO call " in line for line in mplog_lines) == 600
    assert not logging.getLogger("demo.callcost.file").handlers


def test_the_summary_line_names_both_and_the_method() -> None:
    """The demo's line says which is which, the ratio, and how it was measured."""
    line = _callcost.CallCost(3.0, 4.0, 5, 2000, complete=True).text()
    assert line == (
        "one logging call in this process: mplog 3.0 µs, a plain logging.FileHandler 4.0 µs "
        "(0.75x; CPU time, median of 5 rounds of 2,000 calls each)"
    )
    assert "missed records" in _callcost.CallCost(3.0, 4.0, 5, 2000, complete=False).text()
