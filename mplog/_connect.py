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
from mplog._tls import Tls
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
    owner only, or else ``MPLOG_KEY``. ``tls`` wraps the connection in TLS: True (the
    listener's certificate checked against the system's CAs), the path of the CA file that
    signed it, an :class:`mplog.Tls` (``ca``, and ``cert``/``key`` for a client certificate
    when the listener requires one) or a client-side :class:`ssl.SSLContext`. ``level`` sets
    this process's root level. Replaces the root logger's handlers with a
    :class:`mplog.ShippingHandler`; pools created here with mplog's wrappers ship to the same
    listener. Raises ``ConnectionRefusedError`` when the listener refuses the key or TLS; a
    listener that cannot be reached (yet) is said on stderr, and records wait in the spool
    until it can (``shipping``: ``spool_bytes``, ``spool_dir``). Returns the
    :class:`WorkerConfig` (for children started by hand: :func:`mplog.configure_worker`).
    """
    host, port = parse_address(address)
    secret = load_key(key, key_env, key_file)
    secure = Tls.of(tls, server=False)
    if secret is None:
        raise ValueError(
            "mplog.connect() needs the listener's key: pass key=, key_env= or key_file=, or "
            "set MPLOG_KEY"
        )
    root = logging.getLogger()
    saved = list(root.handlers)
    if level is not None:
        root.setLevel(to_level(level))
    config = WorkerConfig((host, port), "", key=secret, shipping=shipping or Shipping(), tls=secure)
    # With the levels just set: a child configured with the returned config keeps them.
    config = with_current_levels(config)
    configure_worker(config)
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
    # With the listener's line plan, when its welcome came: pools created here format too.
    config = handler.config
    set_active(config)
    return config
