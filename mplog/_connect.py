"""``mplog.connect``: log a process that is not a listener's child into it, over the network.

The process proves it holds the listener's key (an HMAC challenge; the key never travels),
then ships like a pool worker: :func:`mplog.configure_worker` with a ``WorkerConfig`` that
points at the listener's network address, made active, so the pools this process creates
with mplog's wrappers ship there too. It imports only the worker side.
"""

from __future__ import annotations

import logging
import os

from mplog._settings import Shipping, WorkerConfig, load_key, parse_address, to_level
from mplog._worker.handler import (
    ShippingHandler,
    configure_worker,
    set_active,
    with_current_levels,
)


def connect(
    address: str | tuple[str, int],
    *,
    key: bytes | str | None = None,
    key_env: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    tls: object = None,
    level: int | str | None = None,
    shipping: Shipping | None = None,
) -> WorkerConfig:
    """Make this process log into the listener at ``address`` (``"host:port"``,
    ``"[::1]:port"`` or ``(host, port)``), started elsewhere with ``listen=``.

    The key comes from ``key``, the ``key_env`` variable, a ``key_file`` readable by its
    owner only, or else ``MPLOG_KEY``. ``level`` sets this process's root level. Replaces the
    root logger's handlers with a :class:`mplog.ShippingHandler`; pools created here with
    mplog's wrappers ship to the same listener. Raises ``ConnectionRefusedError`` when the
    listener refuses the key; a listener that cannot be reached (yet) is said on stderr, and
    records wait in the spool until it can (``shipping``: ``spool_bytes``, ``spool_dir``).
    Returns the :class:`WorkerConfig` (for children started by
    hand: :func:`mplog.configure_worker`).
    """
    if tls is not None:
        raise NotImplementedError(
            "tls= is not available yet: connect without it on a trusted network, or tunnel "
            "the connection (ssh -L, stunnel, a VPN)"
        )
    host, port = parse_address(address)
    secret = load_key(key, key_env, key_file)
    if secret is None:
        raise ValueError(
            "mplog.connect() needs the listener's key: pass key=, key_env= or key_file=, or "
            "set MPLOG_KEY"
        )
    root = logging.getLogger()
    saved = list(root.handlers)
    if level is not None:
        root.setLevel(to_level(level))
    config = WorkerConfig((host, port), "", key=secret, shipping=shipping or Shipping())
    configure_worker(with_current_levels(config))
    # Connect now, so that a wrong key or address fails here, not at the first record.
    handler = next(h for h in root.handlers if isinstance(h, ShippingHandler))
    handler.connect()
    if handler.failure is not None:
        root.removeHandler(handler)
        handler.close()
        for old in saved:
            root.addHandler(old)
        set_active(None)
        raise ConnectionRefusedError(
            f"mplog.connect() could not log into the listener at {host}:{port}: "
            f"{handler.failure}; check the address, the key and the listener's log"
        )
    return config
