"""A worker initializer that compares equal to another one configuring the same way.

Engines that keep a pool alive across calls (loky's reusable executor, which joblib's
``Parallel`` uses; pathos's pool cache) reuse it only when the arguments of the new call
compare equal to the old ones. mplog's plain initializer is a new object every time, so it
would make them start new workers for every call; this one is equal to another one with the
same listener config, user initializer and arguments, so a pool is reused exactly when its
workers already log where the new call wants them to (a new listener, or changed levels,
gets new workers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mplog._counter import WorkerCounter
from mplog._pools import worker_config_for
from mplog._worker.initializer import ReusableInit

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener


def chained(
    listener: Listener | None,
    initializer: Callable[..., object] | None,
    initargs: Iterable[Any],
) -> tuple[ReusableInit, tuple[()]]:
    """``(initializer, initargs)`` for an engine: mplog's configuration first (``listener``,
    else the active one), then the user's; left as is when already chained."""
    if isinstance(initializer, ReusableInit):
        return initializer, ()
    config = worker_config_for(listener)
    return ReusableInit(config, WorkerCounter(), initializer, initargs), ()
