"""Drop-in ProcessPoolExecutor, Pool and Process that configure every child for the listener.

They change nothing else: the caller's context (stdlib ``multiprocessing`` or ``multiprocess``,
any start method) is used as given, ``set_start_method`` is never called, and a user
``initializer`` runs after mplog's, in the same child, with its ``initargs``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.pool
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mplog._client import WorkerConfig, active_config, configure_worker

if TYPE_CHECKING:
    from mplog._supervisor import Listener


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


class _WorkerInit:
    """A pool initializer: configure logging, then run the user's initializer."""

    def __init__(
        self,
        config: WorkerConfig,
        initializer: Callable[..., object] | None,
        initargs: Iterable[Any],
    ) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be a callable, got {type(initializer).__name__}")
        self.config = config
        self.initializer = initializer
        self.initargs = tuple(initargs)

    def __call__(self) -> None:
        configure_worker(self.config)
        if self.initializer is not None:
            self.initializer(*self.initargs)


class _ConfiguredTarget:
    """A Process target: configure logging, then run the user's target."""

    def __init__(self, config: WorkerConfig, target: Callable[..., object]) -> None:
        self.config = config
        self.target = target

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        configure_worker(self.config)
        return self.target(*args, **kwargs)


def _executor_context(mp_context: Any) -> Any:
    # concurrent.futures pickles its queues with the standard library's machinery, which
    # refuses a multiprocess context's spawn/forkserver ("_SafeQueue objects should only be
    # shared between processes through inheritance"), even without mplog. The executor's
    # tasks go through stdlib pickle either way, so the same start method from the standard
    # library behaves identically for the user.
    if mp_context is None or not type(mp_context).__module__.startswith("multiprocess."):
        return mp_context
    method = mp_context.get_start_method()
    return mp_context if method == "fork" else multiprocessing.get_context(method)


class ProcessPoolExecutor(concurrent.futures.ProcessPoolExecutor):
    """``concurrent.futures.ProcessPoolExecutor`` whose workers log into the listener.

    Same arguments as the original (``max_tasks_per_child`` included), plus ``listener``
    (default: the active one).
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
        init = _WorkerInit(worker_config_for(listener), initializer, initargs)
        super().__init__(max_workers, _executor_context(mp_context), init, (), **kwargs)


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
    """
    init = _WorkerInit(worker_config_for(listener), initializer, initargs)
    ctx = context if context is not None else multiprocessing.get_context()
    pool: multiprocessing.pool.Pool = ctx.Pool(processes, init, (), maxtasksperchild)
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
    wrapped = None if target is None else _ConfiguredTarget(config, target)
    process: multiprocessing.process.BaseProcess = ctx.Process(
        group, wrapped, name, tuple(args), dict(kwargs or {}), daemon=daemon
    )
    return process
