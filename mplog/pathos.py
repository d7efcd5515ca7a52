"""``mplog.pathos.ProcessPool``: a ``pathos.pools.ProcessPool`` whose workers log into the
listener.

pathos's process pool is a ``multiprocess`` pool (dill instead of pickle) behind pathos's
``map``/``amap``/``uimap``/``pipe`` API. Its constructor passes ``initializer``,
``initargs``, ``maxtasksperchild`` and ``context`` to that pool, so mplog's initializer goes
in there, before the user's: every worker the pool starts (replacements after
``maxtasksperchild`` included) is configured. pathos keeps its pools in a cache and reuses
one when a new ``ProcessPool`` has equal arguments; mplog's initializer compares equal for
the same listener (``mplog._reusable_init``), so that cache keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

try:
    from pathos.pools import ProcessPool as _PathosProcessPool
except ImportError as exc:
    raise ImportError(
        f"mplog.pathos needs pathos ({exc}): python -m pip install 'mplog[pathos]'"
    ) from exc

from mplog._reusable_init import chained
from mplog._worker.handler import announce_exits

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener


class ProcessPool(_PathosProcessPool):  # type: ignore[misc]  # pathos is untyped
    """``pathos.pools.ProcessPool`` whose workers log into ``listener`` (default: the active
    one).

    Same arguments as pathos's (``nodes``, ``id``, ``initializer``/``initargs``, which run
    after mplog's, ``maxtasksperchild``, ``context``: a ``multiprocess`` context), plus
    ``listener``. ``terminate()`` announces the workers' ends to the listener, as
    ``mplog.Pool`` does.
    """

    def __init__(
        self,
        *args: Any,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        listener: Listener | None = None,
        **kwds: Any,
    ) -> None:
        kwds["initializer"], kwds["initargs"] = chained(listener, initializer, initargs)
        super().__init__(*args, **kwds)

    def terminate(self) -> None:
        """Like pathos's; the ends are recorded in ``stats()``, not reported as deaths."""
        pool = self.__state__.get(self._id)
        workers = list(getattr(pool, "_pool", None) or [])
        announce_exits([p.pid for p in workers if p.pid and p.exitcode is None], "terminate()")
        super().terminate()
