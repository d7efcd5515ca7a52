"""mplog._compat: the CPython internals mplog relies on exist, with the shape it expects,
on the Python running the tests (CI runs this on every supported version)."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import multiprocessing.pool
import sys

import multiprocess.pool
import pytest

from mplog import _compat


@pytest.mark.parametrize("pool_module", [multiprocessing.pool, multiprocess.pool])
def test_every_internal_is_there(pool_module: object) -> None:
    """Nothing mplog uses is missing or changed on this Python."""
    assert _compat.missing(pool_module) == [], sys.version


def test_a_process_chunk_is_recognised() -> None:
    """ProcessPoolExecutor.map's chunks are recognised (and nothing else is)."""
    seen = []

    class Spy(concurrent.futures.ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(fn)
            return super().submit(fn, *args, **kwargs)

    ctx = multiprocessing.get_context("spawn")
    with Spy(1, mp_context=ctx) as pool:
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
    assert seen and all(_compat.is_process_chunk(fn) for fn in seen)
    assert not _compat.is_process_chunk(abs)


def test_forget_handlers_keeps_them_from_shutdown() -> None:
    """A forgotten handler is not flushed or closed by logging.shutdown()."""
    closed = []

    class Probe(logging.Handler):
        def close(self) -> None:
            closed.append(self)
            super().close()

    kept, forgotten = Probe(), Probe()
    _compat.forget_handlers([forgotten])
    logging.shutdown([ref for ref in logging._handlerList if ref() in (kept, forgotten)])  # type: ignore[attr-defined]
    assert closed == [kept]
