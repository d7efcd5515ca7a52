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
import socket
import sys
from collections.abc import Mapping
from typing import Any

from mplog._settings import WorkerConfig, load_key, parse_address
from mplog._worker.context import HOSTNAME, add_provider
from mplog._worker.handler import (
    active_address,
    active_config,
    configure_worker,
    with_current_levels,
)

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

    def __init__(self, local: WorkerConfig | None, network: WorkerConfig | None, host: str) -> None:
        self.local = local
        self.network = network
        self.host = host

    def choose(self) -> WorkerConfig | None:
        """The config this process can reach the listener with, or None."""
        local = self.local
        if (
            local is not None
            and self.host == HOSTNAME
            and isinstance(local.address, str)
            and os.path.exists(local.address)
        ):
            return local
        return self.network

    def setup(self, worker: Any) -> None:
        """Ship this worker's records to the listener and stamp the Dask fields."""
        global _address
        config = self.choose()
        if config is None:
            sys.stderr.write(
                f"mplog: Dask worker {worker.address} on {HOSTNAME} cannot reach the log "
                f"listener: its local socket on {self.host} is not here (another machine, or "
                "the listener stopped) and it has no network address: start it with "
                "listen='0.0.0.0:PORT' and key=, or call mplog.dask.install(client, "
                "address=..., key=...); this worker keeps its own logging\n"
            )
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
) -> MplogPlugin:
    """Make every worker of ``client``'s cluster (now and later) log into the listener.

    ``listener`` defaults to the running one. Workers on its machine use its local socket;
    when it was started with ``listen=``, workers on other machines connect there over TCP
    with its key (a wildcard host such as ``0.0.0.0`` is replaced by this machine's name).
    With ``address=``, every worker connects over TCP to that address instead, proving the
    key from ``key``, ``key_env``, ``key_file`` or ``MPLOG_KEY``. Records get ``dask_key``
    and ``dask_worker``, in this process too (None here). Returns the registered plugin.
    """
    plugin = _plugin(listener, address, key, key_env, key_file)
    add_provider(_fields)
    register = getattr(client, "register_plugin", None)
    if register is not None:
        register(plugin, name=PLUGIN_NAME)
    else:  # distributed before 2023.9.2
        client.register_worker_plugin(plugin, name=PLUGIN_NAME)
    return plugin


def _plugin(
    listener: Any,
    address: str | tuple[str, int] | None,
    key: bytes | str | None,
    key_env: str | None,
    key_file: str | os.PathLike[str] | None,
) -> MplogPlugin:
    if address is not None:
        if listener is not None:
            raise ValueError("give install() a listener or an address=, not both")
        return MplogPlugin(None, network_config(address, key, key_env, key_file), HOSTNAME)
    if listener is None:
        listener = _running_listener()
    if listener is None:
        config = active_config()  # a process logging into a listener elsewhere (connect())
        if config is None:
            raise RuntimeError(
                "mplog.dask.install() found no running listener: call mplog.setup_listener() "
                "first, pass listener=, or give the address= of a listener started elsewhere"
            )
        if isinstance(config.address, str):
            return MplogPlugin(config, None, HOSTNAME)
        return MplogPlugin(None, config, HOSTNAME)
    network = None
    if listener.network_address is not None:
        secret = listener._network.key  # the listener's own key (its token on loopback)
        network = network_config(_reachable(listener.network_address), secret, None, None)
    return MplogPlugin(listener.worker_config, network, HOSTNAME)


def _running_listener() -> Any:
    """The running listener this process ships to, or None."""
    from mplog._listener.supervisor import _running

    address = active_address()
    return next((each for each in list(_running) if each.address == address), None)


def network_config(
    address: str | tuple[str, int],
    key: bytes | str | None,
    key_env: str | None,
    key_file: str | os.PathLike[str] | None,
) -> WorkerConfig:
    """A config that ships over TCP to ``address``, proving the key (as ``mplog.connect``)."""
    secret = load_key(key, key_env, key_file)
    if secret is None:
        raise ValueError(
            "a TCP listener needs its key: pass key=, key_env= or key_file=, or set MPLOG_KEY"
        )
    return with_current_levels(WorkerConfig(parse_address(address), "", key=secret))


def _reachable(bound: tuple[str, int]) -> tuple[str, int]:
    """The listener's TCP address as another machine can dial it."""
    host, port = bound
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    return host, port
