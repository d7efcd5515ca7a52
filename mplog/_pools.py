"""Drop-in ProcessPoolExecutor, Pool and Process that configure every child for the listener.

They change nothing else: the caller's context (stdlib ``multiprocessing`` or ``multiprocess``,
any start method) is used as given, ``set_start_method`` is never called, and a user
``initializer`` runs after mplog's, in the same child, with its ``initargs``. Each worker
learns its index in the pool, and each task its number and name (see ``mplog._worker.tasks``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import itertools
import multiprocessing
import multiprocessing.pool
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mplog import _compat
from mplog._counter import WorkerCounter
from mplog._settings import WorkerConfig
from mplog._worker.handler import active_config, announce_exits
from mplog._worker.initializer import ConfiguredTarget, WorkerInit
from mplog._worker.tasks import MappedTask, Task

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener


def worker_config_for(listener: Listener | None) -> WorkerConfig:
    """The config children get: from ``listener``, else the active listener; else an error."""
    if listener is not None:
        return listener.worker_config
    config = active_config()
    if config is None:
        raise RuntimeError(
            "no mplog listener is active: call mplog.setup_listener(...) in the main process "
            "before creating the pool, or pass listener=..."
        )
    return config


def _worker_init(
    listener: Listener | None,
    initializer: Callable[..., object] | None,
    initargs: Iterable[Any],
) -> WorkerInit:
    return WorkerInit(worker_config_for(listener), WorkerCounter(), initializer, initargs)


def _executor_context(mp_context: Any) -> Any:
    # concurrent.futures pickles its queues with the standard library's machinery, which
    # refuses a multiprocess context's spawn/forkserver ("_SafeQueue objects should only be
    # shared between processes through inheritance"), even without mplog. The executor's
    # tasks go through stdlib pickle either way, so the same start method from the standard
    # library behaves identically for the user.
    if mp_context is None:  # the standard library picks (spawn for max_tasks_per_child)
        return None
    if not type(mp_context).__module__.startswith("multiprocess."):
        return mp_context
    method = mp_context.get_start_method()
    return mp_context if method == "fork" else multiprocessing.get_context(method)


class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
    """``concurrent.futures.ProcessPoolExecutor`` whose workers log into the listener.

    Same arguments as the original (``max_tasks_per_child`` included), plus ``listener``
    (default: the active one). Tasks are numbered in submission order.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        mp_context: Any = None,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        *,
        listener: Listener | None = None,
        **kwargs: Any,
    ) -> None:
        init = _worker_init(listener, initializer, initargs)
        self._mplog_task_ids = itertools.count()
        super().__init__(max_workers, _executor_context(mp_context), init, (), **kwargs)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Submit ``fn(*args, **kwargs)`` as the next numbered task."""
        if not _is_mapped_chunk(fn):
            fn = Task(fn, next(self._mplog_task_ids))
        return super().submit(fn, *args, **kwargs)

    def map(
        self, fn: Callable[..., Any], *iterables: Iterable[Any], **kwargs: Any
    ) -> Iterator[Any]:
        """Like ``Executor.map``; every item is a numbered task."""
        pairs = _numbered(self._mplog_task_ids, zip(*iterables, strict=False))
        return super().map(MappedTask(fn, star=True), pairs, **kwargs)

    if sys.version_info >= (3, 14):

        def terminate_workers(self) -> None:
            """Like the original (3.14+); the workers' ends are announced to the listener,
            as ``Pool.terminate()`` does: recorded in ``stats()``, not reported as deaths."""
            self._mplog_announce_exits("ProcessPoolExecutor.terminate_workers()")
            super().terminate_workers()

        def kill_workers(self) -> None:
            """Like the original (3.14+), announced like :meth:`terminate_workers`."""
            self._mplog_announce_exits("ProcessPoolExecutor.kill_workers()")
            super().kill_workers()

    def _mplog_announce_exits(self, why: str) -> None:
        processes = dict(getattr(self, "_processes", None) or {})
        announce_exits([p.pid for p in processes.values() if p.pid and p.exitcode is None], why)


def _numbered(ids: Iterator[int], items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    # Not zip(ids, items): that takes one id too many when items run out.
    for item in items:
        yield next(ids), item


def _is_mapped_chunk(fn: Any) -> bool:
    # ProcessPoolExecutor.map submits partial(_process_chunk, MappedTask): already numbered.
    return _compat.is_process_chunk(fn) and any(isinstance(a, MappedTask) for a in fn.args)


class _NumberedTasks:
    """Mixin for a ``multiprocessing.pool.Pool`` class: every call and item is a task, and
    ``terminate()`` (also run by ``with``) is announced to the listener.

    Every public method that runs tasks goes through one of these four.
    """

    _mplog_task_ids: Iterator[int]
    _mplog_pool_module: Any

    def apply_async(self, func: Callable[..., Any], args: Any = (), *rest: Any, **kw: Any) -> Any:
        task = Task(func, next(self._mplog_task_ids))
        return super().apply_async(task, args, *rest, **kw)  # type: ignore[misc]

    def _map_async(
        self, func: Callable[..., Any], iterable: Iterable[Any], mapper: Any, *rest: Any, **kw: Any
    ) -> Any:
        module = self._mplog_pool_module
        adapter = MappedTask(func, star=mapper is _compat.starmapstar(module))
        pairs = list(_numbered(self._mplog_task_ids, iterable))
        mapper = _compat.mapstar(module)
        return super()._map_async(adapter, pairs, mapper, *rest, **kw)  # type: ignore[misc]

    def terminate(self) -> None:
        """Terminate the workers; their streams' end is recorded, not reported as deaths."""
        workers = _compat.pool_workers(self)
        announce_exits([p.pid for p in workers if p.pid and p.exitcode is None], "Pool.terminate()")
        super().terminate()  # type: ignore[misc]

    def imap(self, func: Callable[..., Any], iterable: Iterable[Any], *rest: Any, **kw: Any) -> Any:
        pairs = _numbered(self._mplog_task_ids, iterable)
        return super().imap(MappedTask(func, star=False), pairs, *rest, **kw)  # type: ignore[misc]

    def imap_unordered(
        self, func: Callable[..., Any], iterable: Iterable[Any], *rest: Any, **kw: Any
    ) -> Any:
        pairs = _numbered(self._mplog_task_ids, iterable)
        adapter = MappedTask(func, star=False)
        return super().imap_unordered(adapter, pairs, *rest, **kw)  # type: ignore[misc]


@functools.cache
def _pool_class(package: str) -> type:
    """The ``Pool`` class of ``package`` ("multiprocessing" or "multiprocess"), numbered."""
    module = importlib.import_module(package + ".pool")
    namespace = {"__module__": __name__, "_mplog_pool_module": module}
    return type("Pool", (_NumberedTasks, module.Pool), namespace)


def Pool(
    processes: int | None = None,
    initializer: Callable[..., object] | None = None,
    initargs: Iterable[Any] = (),
    maxtasksperchild: int | None = None,
    context: Any = None,
    *,
    listener: Listener | None = None,
) -> multiprocessing.pool.Pool:
    """``multiprocessing.Pool`` whose workers log into the listener.

    ``context`` may be any stdlib or ``multiprocess`` context (default: the stdlib default).
    The pool is an instance of that library's ``Pool`` class; its tasks are numbered.
    """
    ctx = context if context is not None else multiprocessing.get_context()
    init = _worker_init(listener, initializer, initargs)
    package = type(ctx).__module__.split(".")[0]
    pool: multiprocessing.pool.Pool = _pool_class(package)(
        processes, init, (), maxtasksperchild, context=ctx
    )
    pool._mplog_task_ids = itertools.count()  # type: ignore[attr-defined]
    return pool


def Process(
    group: None = None,
    target: Callable[..., object] | None = None,
    name: str | None = None,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    daemon: bool | None = None,
    context: Any = None,
    listener: Listener | None = None,
) -> multiprocessing.process.BaseProcess:
    """``multiprocessing.Process`` whose target runs with logging configured for the listener.

    Returns a process of ``context`` (default: the stdlib default). Subclasses that override
    ``run()`` should call :func:`mplog.configure_worker` there instead.
    """
    config = worker_config_for(listener)
    ctx = context if context is not None else multiprocessing.get_context()
    wrapped = None if target is None else ConfiguredTarget(config, target)
    process: multiprocessing.process.BaseProcess = ctx.Process(
        group, wrapped, name, tuple(args), dict(kwargs or {}), daemon=daemon
    )
    return process
