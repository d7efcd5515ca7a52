"""The network sender's spool: bounded, in order, forgets what is acknowledged."""

from __future__ import annotations

from mplog._worker.spool import Spool


def test_frames_stay_until_acknowledged_in_order() -> None:
    spool = Spool(limit=10)
    for frame in (b"aaa", b"bbb", b"ccc"):
        assert spool.has_room(len(frame))
        spool.add(frame)
    assert not spool.has_room(2) and spool.has_room(1)
    spool.acknowledge(0)  # nothing yet
    assert spool.frames() == [b"aaa", b"bbb", b"ccc"] and spool.first == 1
    spool.acknowledge(2)
    assert spool.frames() == [b"ccc"] and spool.first == 3 and spool.size == 3
    spool.acknowledge(2)  # an old acknowledgement changes nothing
    assert len(spool) == 1
    assert spool.take() == [b"ccc"]
    assert len(spool) == 0 and spool.size == 0 and spool.first == 4


def test_an_empty_spool_takes_any_frame() -> None:
    """One frame larger than the bound is still held (the bound is at least a full frame)."""
    spool = Spool(limit=4)
    assert spool.has_room(100)
    spool.add(b"x" * 100)
    assert not spool.has_room(1)
