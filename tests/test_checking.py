"""mplog._checking: the one record check behind the demo, the benchmarks and the tests."""

from __future__ import annotations

from mplog._checking import RecordCheck


def test_every_kind_of_problem_is_counted() -> None:
    """Loss, duplicates, damage, strangers and reordering each count once; order is per
    stream; an intact run is ok."""
    check = RecordCheck([("a", 0), ("a", 1), ("a", 2), ("b", 0)])
    check.record(("a", 1), "a", 1)
    check.record(("b", 0), "b", 0)  # another stream: its order is its own
    check.record(("a", 0), "a", 0)  # went back: reordered
    check.record(("a", 0), "a", 0)  # again: duplicated
    check.record(("z", 9), "z", 9)  # never logged: unexpected
    check.corrupt()
    verdict = check.verdict()
    assert not verdict.ok
    assert (verdict.found, verdict.lost, verdict.duplicated) == (3, 1, 1)
    assert (verdict.corrupt, verdict.unexpected, verdict.reordered) == (1, 1, 1)
    assert verdict.per_stream == {"a": 2, "b": 1}
    assert verdict.problems() == "1 lost, 1 duplicated, 1 corrupt, 1 unexpected, 1 reordered"


def test_order_starts_afresh_in_a_new_file() -> None:
    """Records of one stream spread over files (rotation, a file per worker) may restart."""
    check = RecordCheck([(0, 0), (0, 1)])
    check.record((0, 1), 0, 1)
    check.new_file()
    check.record((0, 0), 0, 0)
    assert check.verdict().ok
