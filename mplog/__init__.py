"""mplog: every process of a pool logs into one destination, safely and without loss.

Call :func:`setup_listener` in main, create pools with :class:`ProcessPoolExecutor`,
:func:`Pool` or :func:`Process` (:class:`InterpreterPoolExecutor` for subinterpreters, on
3.14+), or call :func:`configure_worker` in a child by hand.

Names are imported on first use: a spawned worker unpickles its initializer from
``mplog._worker.initializer`` and loads only the logging side (about a third of the package),
not the pool wrappers, the listener, rotation or JSON code, nor ``typing`` or
``dataclasses``; every spawned process pays that import when it starts.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

    from mplog._connect import connect
    from mplog._interpreters import InterpreterPoolExecutor
    from mplog._listener.supervisor import Listener
    from mplog._pools import Pool, Process, ProcessPoolExecutor
    from mplog._settings import (
        DEFAULT_FORMAT,
        NetworkAccess,
        NetworkLimits,
        Shipping,
        WorkerConfig,
    )
    from mplog._setup import setup_listener
    from mplog._tls import Tls
    from mplog._worker.context import context
    from mplog._worker.handler import ShippingHandler, configure_worker
    from mplog.handlers import JsonFormatter, RotatingHandler

__all__ = [
    "DEFAULT_FORMAT",
    "InterpreterPoolExecutor",
    "JsonFormatter",
    "Listener",
    "NetworkAccess",
    "NetworkLimits",
    "Pool",
    "Process",
    "ProcessPoolExecutor",
    "RotatingHandler",
    "Shipping",
    "ShippingHandler",
    "Tls",
    "WorkerConfig",
    "configure_worker",
    "connect",
    "context",
    "setup_listener",
]

_HOMES = {
    "DEFAULT_FORMAT": "mplog._settings",
    "InterpreterPoolExecutor": "mplog._interpreters",
    "JsonFormatter": "mplog.handlers",
    "Listener": "mplog._listener.supervisor",
    "NetworkAccess": "mplog._settings",
    "NetworkLimits": "mplog._settings",
    "Pool": "mplog._pools",
    "Process": "mplog._pools",
    "ProcessPoolExecutor": "mplog._pools",
    "RotatingHandler": "mplog.handlers",
    "ShippingHandler": "mplog._worker.handler",
    "Shipping": "mplog._settings",
    "Tls": "mplog._tls",
    "WorkerConfig": "mplog._settings",
    "configure_worker": "mplog._worker.handler",
    "connect": "mplog._connect",
    "context": "mplog._worker.context",
    "setup_listener": "mplog._setup",
}


#: Integrations with other engines, imported on first use as ``mplog.<name>`` (each needs its
#: engine installed: the extras of the same names).
_ENGINES = ("celery", "dask", "joblib", "pathos", "ray")


def __getattr__(name: str) -> Any:
    if name in _ENGINES:
        __import__(f"mplog.{name}")
        return sys.modules[f"mplog.{name}"]
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'mplog' has no attribute {name!r}")
    __import__(home)
    value = getattr(sys.modules[home], name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
