"""Worker indices: a counter a pool's workers share, however late each of them starts.

The count lives in an unnamed temporary file (removed from its directory as soon as it is
created). Each worker gets its own descriptor of it as it starts: inherited under fork, passed
with the process's arguments under spawn and forkserver (``DupFd``, as ``multiprocessing``
passes its heap). So the count outlives the pool object: a worker that unpickles its
initializer after the executor was collected still finds it. A ``ctx.Value`` does not: its
lock is a named semaphore, unlinked when the parent's object is collected, and a late worker
then dies opening it (``FileNotFoundError`` in ``SemLock._rebuild``). A POSIX record lock,
which the kernel releases if its holder dies, makes taking a number atomic.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import sys
import weakref

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

_SIZE = 8


class WorkerCounter:
    """Hands out 0, 1, 2, ... to the processes that call :meth:`take`, once each."""

    def __init__(self, fd: int | None = None) -> None:
        self._fd = _unnamed_file() if fd is None else fd
        self._close = weakref.finalize(self, os.close, self._fd)

    def take(self) -> int:
        """The next number; then this process's descriptor is closed (one number each)."""
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            number = int.from_bytes(os.pread(self._fd, _SIZE, 0), "little")
            os.pwrite(self._fd, (number + 1).to_bytes(_SIZE, "little"), 0)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        self._close()
        return number

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (_reduction_module().DupFd(self._fd),))


def _unnamed_file() -> int:
    if hasattr(os, "memfd_create"):  # Linux: no file system involved
        return os.memfd_create("mplog-workers")
    import tempfile  # only the parent creates counters: workers skip the import

    fd, path = tempfile.mkstemp(prefix="mplog-workers-")
    os.unlink(path)
    return fd


def _reduction_module() -> Any:
    # The library (multiprocessing or multiprocess) that is starting a process in this thread
    # passes the descriptor along with that process's arguments.
    for package in ("multiprocess", "multiprocessing"):
        context = sys.modules.get(package + ".context")
        if context is not None and context.get_spawning_popen() is not None:
            return importlib.import_module(package + ".reduction")
    raise TypeError(
        "a WorkerCounter can only be pickled as part of a process being started (in its "
        "arguments or a pool's initializer), which passes its descriptor along; pass it there"
    )


def _rebuild(dup: Any) -> WorkerCounter:
    return WorkerCounter(dup.detach())
