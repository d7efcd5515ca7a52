"""The network sender's spool: bounded, in order, forgets what is acknowledged."""

from __future__ import annotations

from pathlib import Path

from mplog import _protocol
from mplog._worker.spool import FileSpool, Spool


def _record(n: int) -> bytes:
    return _protocol.frame(_protocol.KIND_RECORD, b"%d" % n)


def test_frames_stay_until_acknowledged_in_order() -> None:
    a, b, c = (_record(n) for n in range(3))  # 6 bytes each
    spool = Spool(limit=20)
    for frame in (a, b, c):
        assert spool.has_room(len(frame))
        spool.add(frame)
    assert not spool.has_room(3) and spool.has_room(2)
    spool.acknowledge(0)  # nothing yet
    assert spool.frames() == [a, b, c] and spool.first == 1
    spool.acknowledge(2)
    assert spool.frames() == [c] and spool.first == 3 and spool.size == 6
    spool.acknowledge(2)  # an old acknowledgement changes nothing
    assert len(spool) == 1
    assert spool.take() == [c]
    assert len(spool) == 0 and spool.size == 0 and spool.first == 4


def test_an_empty_spool_takes_any_frame() -> None:
    """One frame larger than the bound is still held (the bound is at least a full frame)."""
    spool = Spool(limit=4)
    assert spool.has_room(100)
    spool.add(b"x" * 100)
    assert not spool.has_room(1)


def test_a_file_spool_keeps_what_is_unacknowledged_for_the_next_process(tmp_path: Path) -> None:
    """Acknowledged frames leave the file; the rest outlive the spool and are taken over,
    once, by the next spool in the directory (not its goodbye); a spool in use is not."""
    first = FileSpool(1 << 20, str(tmp_path), "first")
    for n in range(4):
        first.add(_record(n))
    first.add(_protocol.frame(_protocol.KIND_BYE, b""))
    first.acknowledge(2)
    in_use = FileSpool(1 << 20, str(tmp_path), "in-use")
    in_use.add(_record(99))
    assert len(in_use) == 1  # the first one's file is locked: not taken
    assert first.release() == []
    second = FileSpool(1 << 20, str(tmp_path), "second")
    assert second.frames() == [_record(2), _record(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-use.spool", "second.spool"]
    second.acknowledge(second.first + 1)
    assert second.release() == []  # all acknowledged: its file is removed
    assert FileSpool(1 << 20, str(tmp_path), "third").frames() == []
    in_use.release()


def test_a_file_spool_takes_over_only_what_fits(tmp_path: Path) -> None:
    big = FileSpool(1 << 20, str(tmp_path), "big")
    big.add(_record(1) * 100)
    big.release()
    small = FileSpool(64, str(tmp_path), "small")
    assert len(small) == 0
    assert (tmp_path / "big.spool").exists()
    small.release()


def test_an_entry_of_several_frames_leaves_with_its_last() -> None:
    """One logging call's lines for several handlers are one entry counting as that many
    frames: the listener's acknowledgements (which count frames) end it only when they
    reach its last frame, and the numbering after it goes on from there."""
    a, bcd, e = _record(0), _record(1) + _record(2) + _record(3), _record(4)
    spool = Spool(1 << 16)
    for entry in (a, bcd, e):
        assert spool.push(entry)
    spool.acknowledge(3)  # in the middle of the second entry
    assert (spool.first, spool.frames()) == (2, [bcd, e])
    spool.acknowledge(4)
    assert (spool.first, spool.frames()) == (5, [e])
    assert spool.take() == [e] and spool.first == 6 and not spool
