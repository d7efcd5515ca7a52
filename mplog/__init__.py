"""mplog: every process of a pool logs into one destination, safely and without loss.

Call :func:`setup_listener` in main, create pools with :class:`ProcessPoolExecutor`,
:func:`Pool` or :func:`Process` (or call :func:`configure_worker` in a child by hand).
"""

from mplog._client import ShippingHandler, WorkerConfig, configure_worker
from mplog._context import context
from mplog._pools import Pool, Process, ProcessPoolExecutor
from mplog._routing import DEFAULT_FORMAT
from mplog._setup import setup_listener
from mplog._supervisor import Listener
from mplog.handlers import JsonFormatter, RotatingHandler

__all__ = [
    "DEFAULT_FORMAT",
    "JsonFormatter",
    "Listener",
    "Pool",
    "Process",
    "ProcessPoolExecutor",
    "RotatingHandler",
    "ShippingHandler",
    "WorkerConfig",
    "configure_worker",
    "context",
    "setup_listener",
]
