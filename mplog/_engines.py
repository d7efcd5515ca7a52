"""How a distributed engine's workers reach the listener (shared by ``mplog.dask``, ``mplog.ray``).

A :class:`Route` is built in the driver and shipped (pickled) to every worker, which picks
there: the listener's local socket when the worker runs on the listener's machine and the
socket is there, else TCP to the listener's network address with its key, else nothing (the
worker says so on stderr and keeps its own logging).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

from mplog._settings import WorkerConfig, load_key, parse_address
from mplog._tls import Tls
from mplog._worker.context import HOSTNAME
from mplog._worker.handler import active_address, active_config, with_current_levels


@dataclass(frozen=True)
class Route:
    """The configs a worker may use: ``local`` on ``host`` (the listener's), ``network``
    from anywhere."""

    local: WorkerConfig | None
    network: WorkerConfig | None
    host: str

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

    def say_unreachable(self, who: str) -> None:
        """Tell this worker's stderr why its records stay here, and the fix."""
        sys.stderr.write(
            f"mplog: {who} on {HOSTNAME} cannot reach the log listener: its local socket on "
            f"{self.host} is not here (another machine, or the listener stopped) and it has "
            "no network address: start it with listen='0.0.0.0:PORT' and key=, or install "
            "with address=... and key=... (and tls=... when the listener uses TLS); this "
            "worker keeps its own logging\n"
        )


def route(
    listener: Any,
    address: str | tuple[str, int] | None,
    key: bytes | str | None,
    key_env: str | None,
    key_file: str | os.PathLike[str] | None,
    tls: object = None,
) -> Route:
    """The route to ``listener`` (default: the running one), or over TCP to ``address``.
    ``tls`` is the workers' side of TLS (as ``mplog.connect(tls=...)``): needed to reach a
    listener that uses TLS over the network; without it, such a listener is reached only
    through its local socket."""
    if address is not None:
        if listener is not None:
            raise ValueError("give install() a listener or an address=, not both")
        return Route(None, network_config(address, key, key_env, key_file, tls), HOSTNAME)
    if listener is None:
        listener = _running_listener()
    if listener is None:
        config = active_config()  # a process logging into a listener elsewhere (connect())
        if config is None:
            raise RuntimeError(
                "install() found no running listener: call mplog.setup_listener() first, "
                "pass listener=, or give the address= of a listener started elsewhere"
            )
        if isinstance(config.address, str):
            return Route(config, None, HOSTNAME)
        return Route(None, config, HOSTNAME)
    network = None
    access = listener.network_access  # its address, key (its token on loopback) and TLS
    if access is not None and (not access.tls or tls is not None):
        network = network_config(_reachable(access.address), access.key, None, None, tls)
    return Route(listener.worker_config, network, HOSTNAME)


def network_config(
    address: str | tuple[str, int],
    key: bytes | str | None,
    key_env: str | None,
    key_file: str | os.PathLike[str] | None,
    tls: object = None,
) -> WorkerConfig:
    """A config that ships over TCP to ``address``, proving the key, in TLS when ``tls``
    is given (as ``mplog.connect``)."""
    secret = load_key(key, key_env, key_file)
    if secret is None:
        raise ValueError(
            "a TCP listener needs its key: pass key=, key_env= or key_file=, or set MPLOG_KEY"
        )
    config = WorkerConfig(parse_address(address), "", key=secret, tls=Tls.of(tls, server=False))
    return with_current_levels(config)


def _reachable(bound: tuple[str, int]) -> tuple[str, int]:
    """The listener's TCP address as another machine can dial it."""
    host, port = bound
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    return host, port


def _running_listener() -> Any:
    """The running listener this process ships to, or None."""
    from mplog._listener.supervisor import _running

    address = active_address()
    return next((each for each in list(_running) if each.address == address), None)
