"""``InterpreterPoolExecutor`` (Python 3.14+): every subinterpreter of the pool logs into the
listener, and its tasks are numbered as in the process pools.

``concurrent.futures.InterpreterPoolExecutor`` runs each worker in a subinterpreter of this
process, not in a new process. What mplog does differently there:

* every interpreter has this process's pid: its hello also carries its interpreter id, so
  the listener keeps one stream per interpreter, names it ``"MainProcess/interp-3"`` and
  counts it in ``stats()["interpreters"][(pid, 3)]`` (``stats()["processes"]`` stays keyed
  by pid, for processes);
* a subinterpreter refuses daemon threads: the reader thread that follows
  ``Listener.set_level()`` is an ordinary one there, and the stream is closed (a goodbye,
  which ends that thread) before the interpreter joins its threads (see
  ``mplog._worker.levels``), so closing an interpreter never waits on mplog;
* a subinterpreter starts with the ``sys.path`` Python computed at startup, without what
  main added at run time (cpython#126714): the pool's initializer gives it main's
  ``sys.path`` (as of the pool's creation, as ``spawn`` does) *before* the user's
  initializer, and every task, is unpickled there (see :func:`_with_main_path`). mplog itself
  must be importable from the startup path (installed, ``PYTHONPATH``, the script's folder).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mplog._pools import worker_config_for
from mplog._settings import WorkerConfig
from mplog._worker.initializer import WorkerInit
from mplog._worker.tasks import Task

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener


class _InterpreterInit(WorkerInit):
    """The pool initializer of a subinterpreter: main's ``sys.path``, then as in a process
    pool (configure logging, take a worker index, run the user's initializer)."""

    index: int

    def __init__(
        self,
        config: WorkerConfig,
        initializer: Callable[..., object] | None,
        initargs: Iterable[Any],
    ) -> None:
        super().__init__(config, None, initializer, initargs)
        self.indices = itertools.count()
        self.path = tuple(sys.path)

    def take_index(self) -> int:
        """This interpreter's worker index, given when its initializer was pickled."""
        return self.index

    def __reduce__(self) -> tuple[Any, ...]:
        # Runs in main, once per interpreter the pool starts: each gets the next index.
        # Pickle rebuilds an object (the call below) before it unpickles its state, which
        # holds the user's initializer: that import then sees main's path.
        state = {**self.__dict__, "indices": None, "index": next(self.indices)}
        return (_with_main_path, (self.path,), state)


def _with_main_path(path: tuple[str, ...]) -> _InterpreterInit:
    """Put main's ``sys.path`` first in this interpreter; return an initializer to fill in."""
    sys.path[:] = [*path, *(entry for entry in sys.path if entry not in path)]
    return _InterpreterInit.__new__(_InterpreterInit)


if sys.version_info >= (3, 14):
    import concurrent.futures

    class InterpreterPoolExecutor(concurrent.futures.InterpreterPoolExecutor):
        """``concurrent.futures.InterpreterPoolExecutor`` whose interpreters log into the
        listener.

        Same arguments as the original, plus ``listener`` (default: the active one); the
        user's ``initializer`` runs after mplog's, with ``initargs``. Tasks (``map`` items
        included) are numbered in submission order; each interpreter has a worker index.
        """

        def __init__(
            self,
            max_workers: int | None = None,
            thread_name_prefix: str = "",
            initializer: Callable[..., object] | None = None,
            initargs: Iterable[Any] = (),
            *,
            listener: Listener | None = None,
        ) -> None:
            init = _InterpreterInit(worker_config_for(listener), initializer, initargs)
            self._mplog_task_ids = itertools.count()
            super().__init__(max_workers, thread_name_prefix, init, ())

        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            """Submit ``fn(*args, **kwargs)`` as the next numbered task (``map`` submits
            every item through here)."""
            return super().submit(Task(fn, next(self._mplog_task_ids)), *args, **kwargs)

else:

    class InterpreterPoolExecutor:
        """Needs Python 3.14+ (``concurrent.futures.InterpreterPoolExecutor``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            version = ".".join(map(str, sys.version_info[:3]))
            raise RuntimeError(
                "mplog.InterpreterPoolExecutor needs Python 3.14 or later (it wraps "
                f"concurrent.futures.InterpreterPoolExecutor); this is Python {version}: "
                "run on 3.14+, or use mplog.ProcessPoolExecutor"
            )
