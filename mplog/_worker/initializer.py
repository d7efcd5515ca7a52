"""What a pool's child runs first: configure logging, take a worker index, run the user's
initializer (or target).

The pool wrappers (``mplog._pools``, ``mplog._interpreters``) pickle these into every child
they start. Under spawn and forkserver, unpickling one is what imports mplog in the child, so
this module lives on the worker side and imports only it: not the pool wrappers, nor
``concurrent.futures`` or ``multiprocessing.pool``, which a ``mplog.Process`` child would not
load otherwise.
"""

from __future__ import annotations

from mplog._worker.context import set_worker_index
from mplog._worker.handler import configure_worker

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from mplog._counter import WorkerCounter
    from mplog._settings import WorkerConfig


class WorkerInit:
    """A pool initializer: configure logging, take a worker index, run the user's initializer."""

    def __init__(
        self,
        config: WorkerConfig,
        counter: WorkerCounter | None,
        initializer: Callable[..., object] | None,
        initargs: Iterable[Any],
    ) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be a callable, got {type(initializer).__name__}")
        self.config = config
        self.counter = counter
        self.initializer = initializer
        self.initargs = tuple(initargs)

    def __call__(self) -> None:
        configure_worker(self.config)
        set_worker_index(self.take_index())
        if self.initializer is not None:
            self.initializer(*self.initargs)

    def take_index(self) -> int:
        """The next free worker index of the pool (from the pool's shared counter)."""
        assert self.counter is not None, "an initializer without a counter gives its own"
        return self.counter.take()


class ReusableInit(WorkerInit):
    """``WorkerInit`` equal to another one for the same config, initializer and arguments
    (the worker counter is left out: a reused pool keeps its own)."""

    def _key(self) -> tuple[Any, ...]:
        return (self.config, self.initializer, self.initargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReusableInit):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.config)


class ConfiguredTarget:
    """A Process target: configure logging, then run the user's target (no pool task, so
    its records carry no task fields)."""

    def __init__(self, config: WorkerConfig, target: Callable[..., object]) -> None:
        self.config = config
        self.target = target

    def __call__(self, /, *args: Any, **kwargs: Any) -> object:
        configure_worker(self.config)
        return self.target(*args, **kwargs)
