"""``setup_listener``: keyword arguments in, a destination and a started Listener out.

Everything is validated here, in main, before a listener or worker starts: a bad argument is a
clear error naming the problem and the fix, and nothing has been opened yet.
"""

from __future__ import annotations

import os
from typing import Any

from mplog._listener.supervisor import Listener, Mode
from mplog._outputs.destinations import (
    ConfigDestination,
    Destination,
    FileDestination,
    HandlersDestination,
    HandlerSource,
    load_config_file,
)
from mplog._outputs.schedule import Rotation
from mplog._settings import DEFAULT_FORMAT, Address, Network, NetworkLimits, Shipping, to_level


def setup_listener(
    filename: str | os.PathLike[str] | None = None,
    *,
    handlers: HandlerSource | None = None,
    config: dict[str, Any] | str | os.PathLike[str] | None = None,
    level: int | str | None = None,
    fmt: str = DEFAULT_FORMAT,
    datefmt: str | None = None,
    style: str = "%",
    console: bool | int | str = False,
    json: bool = False,
    rotate: int | str | None = None,
    when: str | None = None,
    interval: int = 1,
    utc: bool = False,
    keep: int | None = None,
    keep_days: float | None = None,
    compress: str | None = None,
    mode: Mode = "thread",
    address: Address | None = None,
    mp_context: Any = None,
    stop_timeout: float = 10.0,
    on_full: str = "block",
    keep_level: int | str | None = None,
    block_timeout: float | None = 60.0,
    buffer_bytes: int | None = None,
    live_levels: bool = True,
    listen: str | tuple[str, int] | None = None,
    key: bytes | str | None = None,
    key_env: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    tls: object = None,
    network_limits: NetworkLimits | None = None,
) -> Listener:
    """Start a listener that writes every process's records to one destination.

    Give exactly one destination: ``filename`` (one file, UTF-8, appended; add ``console=True``
    or a level to echo to stderr), ``handlers`` (handler objects, or for ``mode="process"`` a
    zero-argument function returning them) or ``config`` (a ``dictConfig`` dict, or the path
    of a ``.toml`` or ``.json`` file holding one, applied in the listener, per-logger routing
    included). ``level`` sets the root level in main, and so in every worker.

    For a ``filename``: ``json=True`` writes one JSON object per record; ``rotate`` (bytes, or
    text such as "100 MB") and/or ``when``/``interval``/``utc`` (as TimedRotatingFileHandler)
    rotate the file in the listener, the only writer; ``keep`` files and/or ``keep_days``
    limit what is kept; ``compress`` ("gzip", "bz2", "lzma") compresses rotated files in the
    background (see :class:`mplog.RotatingHandler`).

    ``mode="process"`` runs the listener in its own process, started from ``mp_context``;
    by default forked when main runs no other thread (on Linux), else spawned. ``address``
    picks the socket (a path, or ``(host, port)`` for TCP); by default a private Unix socket.

    Each process's unwritten records are bounded by its stream's kernel buffer
    (``buffer_bytes``). When it is full, ``on_full="block"`` (default) makes the logging call
    wait, losing nothing; ``on_full="drop"`` drops records below ``keep_level`` (all, if None),
    counts them per level and reports them in a summary record and in :meth:`Listener.stats`.
    A call blocked for ``block_timeout`` seconds declares the listener stuck and sends that
    process's records to stderr instead. ``live_levels`` (default True) lets
    :meth:`Listener.set_level` reach running workers; it costs one small reader thread per
    worker (turn it off if workers fork children of their own and must stay single-threaded).

    ``listen="host:port"`` (``"[::1]:port"`` for IPv6; port 0 picks a free one, see
    :attr:`Listener.network_address`) also accepts processes of other machines, which log
    into it with :func:`mplog.connect`; local children still use the private socket. Each
    must prove it holds the shared key (an HMAC challenge; the key never travels): ``key``,
    the ``key_env`` environment variable, a ``key_file`` readable by its owner only, or else
    ``MPLOG_KEY``. A key is required unless ``listen`` is a loopback address (then, without
    one, the key is the listener's token, ``worker_config.token``).
    ``tls=`` wraps every network connection in TLS (the key's handshake then runs inside
    it): ``(cert, key)`` PEM file paths, ``(cert, key, ca)`` to also require a client
    certificate signed by ``ca`` from every sender (mutual TLS), a :class:`mplog.Tls` or a
    server-side :class:`ssl.SSLContext` (thread mode, or a forked listener process only).
    ``network_limits`` (a :class:`mplog.NetworkLimits`) changes the limits on network
    connections.
    Returns the started :class:`Listener`.
    """
    file_options = {
        "rotation": _rotation(rotate, when, interval, utc, keep, keep_days, compress),
        "json": json,
    }
    network = None
    if listen is not None:
        if isinstance(address, tuple):
            raise ValueError(
                "address=(host, port) already makes every process log over TCP; use listen= "
                "for remote senders and leave address= to its default (a private Unix socket)"
            )
        network = Network.parse(listen, key, key_env, key_file, tls, network_limits)
    elif (key, key_env, key_file, tls, network_limits) != (None, None, None, None, None):
        raise ValueError(
            "key=, key_env=, key_file=, tls= and network_limits= are for listen=: add "
            "listen='host:port'"
        )
    destination = _destination(
        filename, handlers, config, console, (fmt, datefmt, style), file_options, mode
    )
    listener = Listener(
        destination,
        mode=mode,
        address=address,
        level=level,
        mp_context=mp_context,
        stop_timeout=stop_timeout,
        shipping=Shipping(on_full, keep_level, block_timeout, buffer_bytes, live_levels),
        network=network,
    )
    return listener.start()


def _destination(
    filename: str | os.PathLike[str] | None,
    handlers: HandlerSource | None,
    config: dict[str, Any] | str | os.PathLike[str] | None,
    console: bool | int | str,
    text_format: tuple[str, str | None, str],
    file_options: dict[str, Any],
    mode: Mode,
) -> Destination:
    candidates = (("filename", filename), ("handlers", handlers), ("config", config))
    given = [name for name, value in candidates if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one destination, not {' and '.join(given)}")
    rotating = file_options["rotation"] is not None
    if given and given[0] != "filename" and (rotating or file_options["json"]):
        raise ValueError(
            "json= and the rotation options (rotate=, when=, keep=, compress=...) apply to a "
            "filename destination; with handlers= or config=, use mplog.RotatingHandler and "
            "mplog.JsonFormatter there"
        )
    if handlers is not None:
        return _handlers_destination(handlers, mode)
    if config is not None:
        if isinstance(config, (str, os.PathLike)):
            config = load_config_file(config)
        return ConfigDestination(config)
    console_level = None if console is False else (0 if console is True else to_level(console))
    if filename is None and console_level is None:
        raise ValueError(
            "setup_listener() needs a destination: a filename, handlers=, config= or console=True"
        )
    path = None if filename is None else os.path.abspath(os.fspath(filename))
    return FileDestination(path, console_level, *text_format, **file_options)


def _rotation(
    rotate: int | str | None,
    when: str | None,
    interval: int,
    utc: bool,
    keep: int | None,
    keep_days: float | None,
    compress: str | None,
) -> Rotation | None:
    """The file's rotation, or None when no rotation option was given."""
    options = {"keep": keep, "keep_days": keep_days, "compress": compress}
    given = [f"{name}=" for name, value in options.items() if value is not None]
    given += ["utc=True"] * (utc is not False) + ["interval="] * (interval != 1)
    if rotate is None and when is None:
        if given:
            raise ValueError(
                f"{', '.join(given)} only take effect when the file rotates: add rotate= (a size) "
                "and/or when= (a time), or leave them out"
            )
        return None
    max_bytes = 0 if rotate is None else rotate
    return Rotation(max_bytes, when, interval, utc, keep, keep_days, compress)


def _handlers_destination(handlers: HandlerSource, mode: Mode) -> HandlersDestination:
    if mode == "process" and not callable(handlers):
        raise TypeError(
            "mode='process' builds the handlers in the listener process: pass a "
            "zero-argument function that returns them (handlers=make_handlers), or config="
        )
    return HandlersDestination(handlers)
