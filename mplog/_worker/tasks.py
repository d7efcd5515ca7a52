"""Task identity: wrap what pools run so every record knows which task logged it.

The pool wrappers number tasks in submission order (``task_id``) and name them after the
function (``task_name``); these picklable adapters carry the number into the worker and set
it around the call.
"""

from __future__ import annotations

from collections.abc import Callable

from mplog._worker.context import running_task

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any


def task_name(fn: Callable[..., object]) -> str:
    """A readable name for a task function."""
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


class Task:
    """One submitted call: ``fn(*args, **kwargs)`` as task ``task_id``."""

    def __init__(self, fn: Callable[..., object], task_id: int) -> None:
        self.fn = fn
        self.task_id = task_id
        self.name = task_name(fn)

    def __call__(self, /, *args: Any, **kwargs: Any) -> object:
        with running_task(self.task_id, self.name):
            return self.fn(*args, **kwargs)


class MappedTask:
    """``fn`` applied to ``(task_id, item)`` pairs; ``star`` unpacks the item as arguments."""

    def __init__(self, fn: Callable[..., object], *, star: bool) -> None:
        self.fn = fn
        self.star = star
        self.name = task_name(fn)

    def __call__(self, pair: tuple[int, Any]) -> object:
        task_id, item = pair
        with running_task(task_id, self.name):
            return self.fn(*item) if self.star else self.fn(item)
