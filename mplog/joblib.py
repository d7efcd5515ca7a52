"""``mplog.joblib.install()``: every later joblib ``Parallel`` and loky executor logs into
the listener, with no argument added to each call.

joblib's loky backend keeps one executor (loky's "reusable executor") across ``Parallel``
calls, and loky starts new workers whenever it likes: after an idle timeout, after a worker
died, when resized. So a per-call initializer is not enough (joblib #1017): the second
``Parallel`` gets the workers of the first, or new ones nobody configured. ``install()``
therefore patches the places every worker is born from, in ``joblib.externals.loky`` and in
the standalone ``loky`` package when installed:

- ``ProcessPoolExecutor.__init__``: the executor's initializer, which loky runs in every
  worker it ever starts (first ones and replacements), configures logging first, then runs
  the user's initializer;
- ``_ReusablePoolExecutor.get_reusable_executor``: the same, with an initializer equal to the
  previous call's as long as the listener is the same (see ``mplog._reusable_init``), so the
  executor is reused as before; under a new listener the executor is replaced;
- ``ProcessPoolExecutor.shutdown(kill_workers=True)`` (joblib calls it when a task raised)
  announces the workers' ends, so the listener records them instead of reporting deaths;
- joblib's ``MemmappingPool`` (the multiprocessing backend, a new pool per ``Parallel``):
  its initializer, and its ``terminate()`` announced like ``mplog.Pool``'s.

``uninstall()`` puts the originals back. Records carry ``worker_index`` (per executor or
pool; replacements take the next numbers); ``task_id`` and ``task_name`` are None.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mplog import _compat
from mplog._reusable_init import chained
from mplog._worker.handler import announce_exits

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener

#: The loky copies patched when importable: joblib's vendored one, and the standalone one.
LOKY_PACKAGES = ("joblib.externals.loky", "loky")

#: What install() replaced: (owner, attribute name, original), in patching order.
_patched: list[tuple[type, str, Any]] = []
_listener: Listener | None = None


class Installed:
    """What :func:`install` returns: leaving its ``with`` block calls :func:`uninstall`."""

    def __enter__(self) -> Installed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        uninstall()


def install(listener: Listener | None = None) -> Installed:
    """Make every joblib ``Parallel`` (loky and multiprocessing backends) and every loky
    executor created from now on start workers that log into ``listener`` (default: the
    active listener when the executor or pool is created).

    Idempotent (a second call only changes the listener). Raises ``ImportError`` when joblib
    is not installed. Returns an object whose ``with`` block ends with :func:`uninstall`.
    """
    global _listener
    try:
        joblib_pool = importlib.import_module("joblib.pool")
    except ImportError as exc:
        raise ImportError(
            f"mplog.joblib.install() needs joblib ({exc}): python -m pip install 'mplog[joblib]'"
        ) from exc
    _listener = listener
    if not _patched:
        for package in LOKY_PACKAGES:
            if importlib.util.find_spec(package.split(".")[0]) is not None:
                _patch_loky(package)
        _patch_memmapping_pool(joblib_pool.MemmappingPool)
    return Installed()


def uninstall() -> None:
    """Put back what :func:`install` replaced (executors already started keep their
    configured workers)."""
    global _listener
    while _patched:
        owner, name, original = _patched.pop()
        setattr(owner, name, original)
    _listener = None


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_patched)


def _patch(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    original = owner.__dict__[name]
    _patched.append((owner, name, original))
    setattr(owner, name, make(original))


def _configure(arguments: dict[str, Any]) -> None:
    """Chain mplog's initializer before the one in ``arguments`` (a bound call's)."""
    arguments["initializer"], arguments["initargs"] = chained(
        _listener, arguments.get("initializer"), arguments.get("initargs", ())
    )


def _patch_loky(package: str) -> None:
    executor = importlib.import_module(package + ".process_executor").ProcessPoolExecutor
    reusable = importlib.import_module(package + ".reusable_executor")
    _patch(executor, "__init__", _configured_init)
    _patch(executor, "shutdown", _announced_shutdown)
    _patch(
        reusable._ReusablePoolExecutor,
        "get_reusable_executor",
        lambda original: classmethod(_configured_factory(original.__func__, reusable)),
    )


def _configured_init(original: Callable[..., None]) -> Callable[..., None]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        _configure(bound.arguments)
        original(*bound.args, **bound.kwargs)

    return __init__


def _configured_factory(original: Callable[..., Any], module: Any) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def get_reusable_executor(cls: type, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(cls, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        _configure(arguments)
        previous = reusable_state(module)[1]
        if previous is not None and previous.get("initializer") != arguments["initializer"]:
            # Another listener (or other levels): joblib may still say reuse=True, since it
            # compares only its own arguments; the old workers log elsewhere.
            arguments["reuse"] = False
        return original(*bound.args, **bound.kwargs)

    return get_reusable_executor


def reusable_state(module: Any) -> tuple[Any, dict[str, Any] | None]:
    """The reusable executor of a loky ``reusable_executor`` module and the arguments it was
    made with (module globals up to loky 3.6, a thread-local holder since 3.7)."""
    storage = getattr(module, "_executor_storage", None)
    if storage is not None:
        return storage.executor, storage.executor_kwargs
    return module._executor, module._executor_kwargs


def _announced_shutdown(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def shutdown(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if bound.arguments.get("kill_workers"):
            processes = list((getattr(self, "_processes", None) or {}).values())
            pids = [p.pid for p in processes if p.pid and p.exitcode is None]
            announce_exits(pids, "loky shutdown(kill_workers=True)")
        return original(*bound.args, **bound.kwargs)

    return shutdown


def _patch_memmapping_pool(pool_class: type) -> None:
    def configured_init(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            _configure(kwargs)  # joblib passes everything but `processes` by keyword
            original(self, *args, **kwargs)

        return __init__

    def announced_terminate(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def terminate(self: Any) -> None:
            workers = _compat.pool_workers(self)
            pids = [p.pid for p in workers if p.pid and p.exitcode is None]
            announce_exits(pids, "joblib's Pool.terminate()")
            original(self)

        return terminate

    _patch(pool_class, "__init__", configured_init)
    _patch(pool_class, "terminate", announced_terminate)
