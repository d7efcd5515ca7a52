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
* ``logging._handlerList``: the weak references ``logging.shutdown()`` flushes at exit;
* ``_interpreters.get_current()`` (3.14+: ``(id, whence)``): which (sub)interpreter runs,
  without importing ``concurrent.interpreters`` in every process;
* ``_thread.daemon_threads_allowed()`` (3.12+) and ``threading._register_atexit``: a
  subinterpreter refuses daemon threads, and joins its other threads *before* its ``atexit``
  callbacks run; functions registered there run before that join.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterable

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
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
    process = sys.modules.get("concurrent.futures.process")  # not loaded: no chunk exists
    return (
        process is not None
        and isinstance(fn, functools.partial)
        and fn.func is process._process_chunk
    )


def forget_handlers(handlers: Iterable[logging.Handler]) -> None:
    """Keep ``logging.shutdown()`` from flushing and closing these handlers at exit."""
    ours = {id(handler) for handler in handlers}
    refs = logging._handlerList  # type: ignore[attr-defined]
    refs[:] = [ref for ref in refs if id(ref()) not in ours]


def interpreter_id() -> int:
    """The id of the interpreter running this code: 0 for the main one (and before 3.14)."""
    if sys.version_info >= (3, 14):
        import _interpreters  # built in: free to import

        return int(_interpreters.get_current()[0])
    return 0


def daemon_threads_allowed() -> bool:
    """Whether this interpreter may start daemon threads (a subinterpreter may not)."""
    import _thread

    allowed = getattr(_thread, "daemon_threads_allowed", None)
    return True if allowed is None else bool(allowed())


def before_thread_join(fn: Callable[[], object]) -> bool:
    """Run ``fn`` when this interpreter ends, before it joins its non-daemon threads (a
    subinterpreter's ``atexit`` callbacks run only after that join). False if it is already
    ending."""
    try:
        threading._register_atexit(fn)  # type: ignore[attr-defined]
    except RuntimeError:  # "can't register atexit after shutdown"
        return False
    return True


def missing(pool_module: Any = None) -> list[str]:
    """The internals above that this Python (and ``pool_module``, by default the standard
    library's ``multiprocessing.pool``) lacks or has changed."""
    # Only for this check: workers import this module and never call it.
    import concurrent.futures.process
    import inspect
    import multiprocessing.pool

    if pool_module is None:
        pool_module = multiprocessing.pool

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
    if not callable(getattr(threading, "_register_atexit", None)):
        problems.append("threading._register_atexit")
    if sys.version_info >= (3, 14):
        import _thread

        import _interpreters

        current = _interpreters.get_current()
        if not (isinstance(current, tuple) and isinstance(current[0], int)):
            problems.append("_interpreters.get_current() -> (id, whence)")
        if not callable(getattr(_thread, "daemon_threads_allowed", None)):
            problems.append("_thread.daemon_threads_allowed")
    return problems
