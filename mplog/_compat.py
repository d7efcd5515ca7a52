"""What mplog relies on inside CPython and its ``logging``/``multiprocessing`` packages that is
not public API: every use goes through here, and :func:`missing` checks them all, so a new
Python that changes one fails one test (``tests/test_compat.py``) rather than a user's pool.

* ``multiprocessing.pool.Pool._map_async(func, iterable, mapper, chunksize, callback,
  error_callback)`` and the module's ``mapstar``/``starmapstar``: every ``map``/``starmap``
  flavour goes through them, so overriding ``_map_async`` numbers their items (also in
  ``multiprocess.pool``);
* ``Pool._pool``: the worker processes, whose ends ``terminate()`` announces;
* ``concurrent.futures.process._process_chunk``: ``ProcessPoolExecutor.map`` submits
  ``partial(_process_chunk, fn, chunk)``, whose items mplog has numbered already;
* ``logging._handlerList``: the weak references ``logging.shutdown()`` flushes at exit.
"""

from __future__ import annotations

import concurrent.futures.process
import functools
import logging
import multiprocessing.pool
from collections.abc import Callable, Iterable
from typing import Any

_MAP_ASYNC_PARAMETERS = ["self", "func", "iterable", "mapper", "chunksize", "callback"]


def mapstar(pool_module: Any) -> Callable[..., Any]:
    """The pool module's ``mapstar``: applies a function to each item of a task chunk."""
    return pool_module.mapstar  # type: ignore[no-any-return]


def starmapstar(pool_module: Any) -> Callable[..., Any]:
    """The pool module's ``starmapstar``: the same, unpacking each item as arguments."""
    return pool_module.starmapstar  # type: ignore[no-any-return]


def pool_workers(pool: Any) -> list[Any]:
    """A ``Pool``'s worker processes (empty before they start or after they are gone)."""
    return list(getattr(pool, "_pool", None) or [])


def is_process_chunk(fn: Any) -> bool:
    """Whether ``fn`` is a chunk that ``ProcessPoolExecutor.map`` submitted."""
    chunk = concurrent.futures.process._process_chunk
    return isinstance(fn, functools.partial) and fn.func is chunk


def forget_handlers(handlers: Iterable[logging.Handler]) -> None:
    """Keep ``logging.shutdown()`` from flushing and closing these handlers at exit."""
    ours = {id(handler) for handler in handlers}
    refs = logging._handlerList  # type: ignore[attr-defined]
    refs[:] = [ref for ref in refs if id(ref()) not in ours]


def missing(pool_module: Any = multiprocessing.pool) -> list[str]:
    """The internals above that this Python (and ``pool_module``) lacks or has changed."""
    import inspect  # only for this check: workers import this module and never call it

    problems = []
    for name in ("mapstar", "starmapstar", "Pool"):
        if not callable(getattr(pool_module, name, None)):
            problems.append(f"{pool_module.__name__}.{name}")
    map_async = getattr(getattr(pool_module, "Pool", None), "_map_async", None)
    if map_async is None or list(inspect.signature(map_async).parameters)[:6] != (
        _MAP_ASYNC_PARAMETERS
    ):
        problems.append(f"{pool_module.__name__}.Pool._map_async{_MAP_ASYNC_PARAMETERS[1:]}")
    if not callable(getattr(concurrent.futures.process, "_process_chunk", None)):
        problems.append("concurrent.futures.process._process_chunk")
    if not isinstance(getattr(logging, "_handlerList", None), list):
        problems.append("logging._handlerList")
    return problems
