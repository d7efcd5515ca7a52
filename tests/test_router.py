"""mplog._outputs.router: the Router's routes, levels, filters, lines per handler, errors
and closing (the destinations that build it: tests/test_destinations.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mplog import _frames
from mplog._outputs.router import Route, Router
from mplog.handlers import RotatingHandler
from tests._helpers import ListHandler


class RaisingHandler(logging.Handler):
    """A handler whose handle() raises (as a broken filter would)."""

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        raise RuntimeError("broken handler")


class ErroringHandler(logging.Handler):
    """A handler whose emit() fails and reports it through handleError (like a full disk)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raise OSError("disk full")
        except OSError:
            self.handleError(record)


def _rec(name: str, msg: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_router_walks_hierarchy_and_honours_propagate() -> None:
    """A record reaches the handlers of its logger and its ancestors up to the first
    propagate=False route, then the root's only if propagation reached it."""
    root, a, ab, quiet = ListHandler(), ListHandler(), ListHandler(), ListHandler()
    router = Router(
        Route((root,)),
        {"a": Route((a,)), "a.b": Route((ab,)), "q": Route((quiet,), propagate=False)},
    )
    for name in ("a.b.c", "a", "q.x", "other", "root"):
        assert router.handle(_rec(name, name))
    assert ab.messages == ["a.b.c"]
    assert a.messages == ["a.b.c", "a"]
    assert quiet.messages == ["q.x"]
    assert root.messages == ["a.b.c", "a", "other", "root"]


def test_router_applies_handler_levels() -> None:
    """Each handler's own level filters records, independently of the other handlers."""
    everything, warnings = ListHandler(), ListHandler(logging.WARNING)
    router = Router(Route((everything, warnings)))
    router.handle(_rec("x", "info", logging.INFO))
    router.handle(_rec("x", "error", logging.ERROR))
    assert everything.messages == ["info", "error"]
    assert warnings.messages == ["error"]


def test_write_lines_gives_each_handler_the_lines_meeting_its_level(tmp_path: Path) -> None:
    """A run of finished lines reaches each line handler whole when every line meets its
    level, and otherwise only the lines that do, in order."""
    everything = logging.FileHandler(tmp_path / "all.log")
    warnings = logging.FileHandler(tmp_path / "warn.log")
    warnings.setLevel(logging.WARNING)
    router = Router(Route((everything, warnings)), line_handlers=(everything, warnings))
    lines = [b"info\n", b"error\n", b"debug\n", b"warning\n"]
    run = _frames.LineRun([20, 40, 10, 30], [memoryview(line) for line in lines])
    assert router.write_lines(run)
    assert router.write_lines(_frames.LineRun([50], [memoryview(b"critical\n")]))
    router.close()
    assert (tmp_path / "all.log").read_bytes() == b"".join(lines) + b"critical\n"
    assert (tmp_path / "warn.log").read_bytes() == b"error\nwarning\ncritical\n"


def test_router_applies_logger_filters() -> None:
    """A route's filters (objects or callables) drop records of that logger only."""
    handler = ListHandler()
    router = Router(
        Route((handler,)),
        {"f": Route((), filters=(lambda r: "keep" in r.getMessage(),))},
    )
    for name, msg in (("f", "keep 1"), ("f", "drop"), ("g", "drop is fine here")):
        router.handle(_rec(name, msg))
    assert handler.messages == ["keep 1", "drop is fine here"]


def test_a_routes_filters_apply_to_its_own_name_every_time() -> None:
    """Filters and handlers are looked up once per logger name (one lookup per record): a
    route's filters keep applying to every record of that name, and only of that name
    (not its children, as for a logger), the root's to records named "root"."""
    handler = ListHandler()
    seen: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        seen.append(record.name)
        return "keep" in record.getMessage()

    router = Router(Route((handler,), filters=(keep,)), {"f": Route((), filters=(keep,))})
    for name, msg in [("f", "keep 1"), ("f", "drop"), ("f.c", "child"), ("root", "drop")] * 2:
        router.handle(_rec(name, msg))
    assert handler.messages == ["keep 1", "child"] * 2
    assert seen == ["f", "f", "root"] * 2


def test_failing_handler_does_not_stop_others(capsys: pytest.CaptureFixture[str]) -> None:
    """A handler that raises and one that reports errors through handleError are counted
    and named once on stderr; the other handlers still get every record."""
    good = ListHandler()
    router = Router(Route((RaisingHandler(), ErroringHandler(), good)))
    results = [router.handle(_rec("x", f"m{i}")) for i in range(3)]
    assert good.messages == ["m0", "m1", "m2"]
    assert results == [False, False, False]
    assert router.errors == 6
    err = capsys.readouterr().err
    assert err.count("RaisingHandler") == 1 and err.count("ErroringHandler") == 1
    assert "disk full" in err and "broken handler" in err
    router.close()


def test_router_close_closes_every_handler_even_if_one_fails() -> None:
    """close() flushes and closes each handler once, going on past one that raises."""

    class BadClose(ListHandler):
        def close(self) -> None:
            raise RuntimeError("cannot close")

    closed: list[str] = []

    class Tracking(ListHandler):
        def close(self) -> None:
            closed.append("yes")
            super().close()

    shared = Tracking()
    router = Router(Route((BadClose(), shared)), {"a": Route((shared,))})
    router.close()
    assert closed == ["yes"]
    assert router.errors == 1


def test_write_tagged_writes_a_run_of_plain_lines_to_its_output(tmp_path: Path) -> None:
    """A run of plain lines for one plan output (one view of several records) goes to that
    output in one write; to a handler that takes one record per element (``append_lines``:
    ``RotatingHandler``) one record each, so that it rotates between records; an output
    not in the plan is refused and counted."""
    plain = logging.FileHandler(tmp_path / "plain.log")
    rotating = RotatingHandler(tmp_path / "rot.log", max_bytes=8)
    router = Router(Route((plain, rotating)))
    assert router.plan is not None and len(router.plan.outputs) == 2
    data = b"one 1\ntwo 2\nthree\n"
    assert router.write_tagged(_frames.LineRun([20], [memoryview(data)], [0], records=3))
    assert router.write_tagged(_frames.LineRun([20], [memoryview(data)], [1], records=3))
    assert not router.write_tagged(_frames.LineRun([20], [memoryview(data)], [2], records=3))
    assert router.errors == 1
    router.close()
    assert (tmp_path / "plain.log").read_bytes() == data
    files = [*tmp_path.glob("rot.log.*"), tmp_path / "rot.log"]  # a record per file
    assert sorted(f.read_bytes() for f in files) == sorted(data.splitlines(keepends=True))
