"""What the listener writes for a process (``mplog._listener.writing``): lines appended,
records routed by the process or by logger, every record counted once per process; a network
sender's lines checked against the welcome, a stale sender's misfits written as records.
Real files; the network side end to end is in ``tests/test_welcome.py``."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mplog import _frames, _protocol
from mplog._lineplan import DESTS_FIELD, MORE
from mplog._listener.peers import Peer
from mplog._listener.welcome import Welcome
from mplog._listener.writing import Writer
from mplog._outputs.router import Route, Router


@pytest.fixture
def peer() -> Iterator[Peer]:
    ours, theirs = socket.socketpair()
    yield Peer(ours, pid=7, name="p", reader=_frames.FrameReader(64))
    ours.close()
    theirs.close()


def _router(tmp_path: Path) -> tuple[Router, list[logging.FileHandler]]:
    handlers = [logging.FileHandler(tmp_path / f"{n}.log") for n in "ab"]
    handlers[0].setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handlers[1].setFormatter(logging.Formatter("%(name)s %(message)s"))
    return Router(Route(tuple(handlers))), handlers


def _run(tags: list[int], texts: list[bytes]) -> _frames.LineRun:
    return _frames.LineRun([20] * len(texts), [memoryview(t) for t in texts], tags)


def test_tagged_lines_and_routed_records_count_each_record_once(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    writer = Writer(router, None)
    assert writer.lines(peer, _run([0, MORE | 1], [b"A\n", b"B\n"])) is None
    record = _protocol.wire_fields(logging.LogRecord("n", 30, "f", 1, "rec", None, None))
    writer.record(peer, {**record, DESTS_FIELD: [1, 1]})  # its lines counted it
    writer.record(peer, {**record, DESTS_FIELD: [0, 0]})
    writer.record(peer, dict(record))  # routed here: both handlers
    router.close()
    assert (tmp_path / "a.log").read_text() == "A\nWARNING rec\nWARNING rec\n"
    assert (tmp_path / "b.log").read_text() == "B\nn rec\nn rec\n"
    assert (peer.received, peer.written) == (3, 3)


def test_network_lines_are_checked_against_the_welcome(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    welcome = Welcome(router, None)
    assert welcome.lines and welcome.digest
    writer = Writer(router, welcome)
    peer.remote = "10.0.0.1"
    assert "handler 2" in str(writer.lines(peer, _run([2], [b"x\n"])))
    assert "frame size limit" in str(writer.lines(peer, _run([0], [b"x" * 65])))
    untagged = _frames.LineRun([20], [memoryview(b"x\n")])
    assert "did not ask for" in str(writer.lines(peer, untagged))
    assert writer.lines(peer, _run([1], [b"fits\n"])) is None
    router.close()
    assert (tmp_path / "b.log").read_text() == "fits\n" and peer.received == 1


def test_a_stale_senders_misfits_are_written_as_records(tmp_path: Path, peer: Peer) -> None:
    router, _ = _router(tmp_path)
    welcome = Welcome(router, None)
    peer.remote = "10.0.0.1"
    welcome.greet(peer, {"plan": "another"})
    assert peer.stale and peer.lines
    writer = Writer(router, welcome)
    assert writer.lines(peer, _run([5, MORE | 6], [b"old line\r\n", b"more\n"])) is None
    assert "frame size limit" in str(writer.lines(peer, _run([9], [b"y" * 65])))
    router.close()
    text = (tmp_path / "a.log").read_text().splitlines()
    assert text[0].startswith("WARNING process 7 at 10.0.0.1 sent again lines")
    assert text[1:] == ["INFO old line"]
    assert (peer.received, peer.stale_lines) == (1, 1)


def test_an_empty_welcome_for_handlers_that_need_records(peer: Peer) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(lambda record: True)
    welcome = Welcome(Router(Route((handler,))), None)
    assert not welcome.lines and welcome.digest is None
    assert welcome.frame == _protocol.frame(_protocol.KIND_WELCOME, b"")
    welcome.greet(peer, {})
    assert not peer.stale


def _bodies(*fields: dict[str, object]) -> list[memoryview]:
    """A run of record frames as the reader hands it over: views of one read."""
    data = b"".join(_protocol.frame(_protocol.KIND_RECORD, _protocol.encode(f)) for f in fields)
    (run,) = _frames.FrameReader().feed_runs(data, records=True)
    assert isinstance(run, list)
    return run


def _fields(msg: str, level: int = logging.INFO, name: str = "n") -> dict[str, object]:
    return _protocol.wire_fields(logging.LogRecord(name, level, "f", 1, msg, None, None))


def test_a_run_of_records_is_written_as_one_record_at_a_time(tmp_path: Path, peer: Peer) -> None:
    """records() writes exactly what record() writes for the same frames (the files byte for
    byte, the counts), routed or not, a record lacking attributes LogRecord sets included."""
    bare = {"name": "n", "msg": "bare", "levelno": 30, "levelname": "WARNING"}
    frames = [
        _fields("one"),
        {**_fields("routed", logging.ERROR), DESTS_FIELD: [0, 1]},
        {**_fields("counted"), DESTS_FIELD: [1, 0]},
        bare,
        _fields("last", logging.DEBUG, "other"),
    ]
    outputs = [_write_both_ways(tmp_path / str(batch), frames, batch) for batch in (True, False)]
    assert outputs[0] == outputs[1]
    files, counts = outputs[0]
    assert files[0].splitlines() == [b"INFO one", b"INFO counted", b"WARNING bare", b"DEBUG last"]
    assert files[1].splitlines() == [b"n one", b"n routed", b"n bare", b"other last"]
    levels = {"INFO": 1, "ERROR": 1, "WARNING": 1, "DEBUG": 1}
    assert counts == (4, 4, levels, 0)


def _write_both_ways(
    out: Path, frames: list[dict[str, object]], batch: bool
) -> tuple[list[bytes], tuple[object, ...]]:
    """The files and counts (received, written, levels, rejected) of ``frames`` written as
    one run (``batch``) or one record() each."""
    out.mkdir()
    router, _ = _router(out)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        one = Peer(ours, pid=7, name="p")
        writer = Writer(router, None)
        if batch:
            assert writer.records(one, _bodies(*frames), lambda _: False) == len(frames)
        else:
            for fields in frames:
                writer.record(one, _protocol.decode(_protocol.encode(fields)))
        router.close()
    files = [(out / f"{n}.log").read_bytes() for n in "ab"]
    return files, (one.received, one.written, dict(one.levels), writer.rejected)


def test_a_bad_frame_in_a_run_is_counted_and_reported_the_others_written(
    tmp_path: Path, peer: Peer
) -> None:
    """A record frame that cannot be decoded (not marshal data, not a dict, a malformed list
    of handlers) is skipped, counted as rejected and reported once for the run; every other
    record of the run, before and after it, is written in order."""
    router, _ = _router(tmp_path)
    writer = Writer(router, None)
    good = [_protocol.frame(_protocol.KIND_RECORD, _protocol.encode(_fields(m))) for m in "abcd"]
    bad = [
        _protocol.frame(_protocol.KIND_RECORD, b"\xff\x00garbage"),
        _protocol.frame(_protocol.KIND_RECORD, _protocol.encode([1, 2])),  # type: ignore[arg-type]
        _protocol.frame(
            _protocol.KIND_RECORD, _protocol.encode({**_fields("x"), DESTS_FIELD: "no"})
        ),
    ]
    data = good[0] + bad[0] + good[1] + bad[1] + good[2] + bad[2] + good[3]
    (run,) = _frames.FrameReader().feed_runs(data, records=True)
    assert isinstance(run, list) and len(run) == 7
    assert writer.records(peer, run, lambda _: False) == 7
    router.close()
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert lines[:4] == ["INFO a", "INFO b", "INFO c", "INFO d"]
    assert len(lines) == 5 and lines[4].startswith(
        "ERROR process 7 (p) sent 3 frame(s) that cannot"
    )
    assert "skipped, its other records written" in lines[4]
    assert (writer.rejected, peer.received, peer.written) == (3, 4, 4)


def test_a_run_stops_where_stop_cuts_its_process_off(tmp_path: Path, peer: Peer) -> None:
    """records() asks ``overdue`` between two records (not after the last: the loop does)
    and returns how many it took when the answer is yes; the rest is left to be counted."""
    router, _ = _router(tmp_path)
    writer = Writer(router, None)
    asked: list[int] = []

    def overdue(_: Peer) -> bool:
        asked.append(peer.written)
        return peer.written == 3

    run = _bodies(*(_fields(f"m{i}") for i in range(6)))
    assert writer.records(peer, run, overdue) == 3
    assert asked == [1, 2, 3]
    assert writer.records(peer, run[:2], lambda _: False) == 2
    router.close()
    assert (tmp_path / "a.log").read_text().splitlines() == [f"INFO m{i}" for i in (0, 1, 2, 0, 1)]
