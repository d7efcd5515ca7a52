"""``mplog.dask.install(client)``: every worker of a Dask cluster logs into an mplog listener.

A ``distributed.WorkerPlugin`` registered on the scheduler runs in every worker, those there
now and those that join later or that a nanny restarts, and calls
:func:`mplog.configure_worker` there: each worker ships its records over its own connection
straight to the listener, never through the scheduler. Records carry ``dask_key`` (the key of
the task that logged, None outside a task and in threads the task started) and
``dask_worker`` (the worker's address), for formats (``%(dask_key)s``), JSON lines and
filters.

Which way a worker connects: a worker on the listener's machine uses its local socket; a
worker on another machine connects over TCP to the listener's ``listen=`` address with its
key. ``install(client, address=..., key=...)`` sends every worker over TCP to that address
(a listener elsewhere, e.g. ``mplog serve``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mplog._engines import Route, route
from mplog._worker.context import add_provider
from mplog._worker.handler import configure_worker

try:
    from dask.context import thread_state  # the task key, set by distributed's workers
    from distributed import WorkerPlugin
    from distributed.worker import get_worker
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"mplog.dask needs dask.distributed ({exc}): pip install 'mplog[dask]'"
    ) from exc

#: The name the plugin is registered under: installing again replaces it.
PLUGIN_NAME = "mplog"
#: The record fields this module adds.
FIELDS = ("dask_key", "dask_worker")

#: This process's worker address, once the plugin has run here.
_address: str | None = None


def _fields() -> Mapping[str, Any]:
    """The Dask fields of a record logged now, in this thread."""
    key = getattr(thread_state, "key", None)
    if key is None:
        return {"dask_key": None, "dask_worker": _address}
    address: str | None
    try:  # several workers may share a process (LocalCluster(processes=False))
        address = get_worker().address
    except ValueError:
        address = _address
    return {"dask_key": key if isinstance(key, str) else str(key), "dask_worker": address}


class MplogPlugin(WorkerPlugin):
    """Configures mplog in each worker: local socket on the listener's host, TCP elsewhere."""

    idempotent = False  # a new install (another listener) replaces the old one

    def __init__(self, route: Route) -> None:
        self.route = route

    def setup(self, worker: Any) -> None:
        """Ship this worker's records to the listener and stamp the Dask fields."""
        global _address
        config = self.route.choose()
        if config is None:
            self.route.say_unreachable(f"Dask worker {worker.address}")
            return
        _address = worker.address
        add_provider(_fields)
        configure_worker(config)


def install(
    client: Any,
    listener: Any = None,
    *,
    address: str | tuple[str, int] | None = None,
    key: bytes | str | None = None,
    key_env: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    tls: object = None,
) -> MplogPlugin:
    """Make every worker of ``client``'s cluster (now and later) log into the listener.

    ``listener`` defaults to the running one. Workers on its machine use its local socket;
    when it was started with ``listen=``, workers on other machines connect there over TCP
    with its key (a wildcard host such as ``0.0.0.0`` is replaced by this machine's name).
    With ``address=``, every worker connects over TCP to that address instead, proving the
    key from ``key``, ``key_env``, ``key_file`` or ``MPLOG_KEY``; ``tls`` (as in
    :func:`mplog.connect`: the CA file, ``True``, an :class:`mplog.Tls`) when the listener
    uses TLS (without it, only workers on its machine reach it). Records get ``dask_key``
    and ``dask_worker``, in this process too (None here). Returns the registered plugin.
    """
    plugin = MplogPlugin(route(listener, address, key, key_env, key_file, tls))
    add_provider(_fields)
    register = getattr(client, "register_plugin", None)
    if register is not None:
        register(plugin, name=PLUGIN_NAME)
    else:  # distributed before 2023.9.2
        client.register_worker_plugin(plugin, name=PLUGIN_NAME)
    return plugin
