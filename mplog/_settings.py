"""What crosses from main to every logging process, declared and checked here once.

:class:`Shipping` is how each process ships (overflow policy, wait bound, buffer, live
levels); :class:`WorkerConfig` is everything a child needs to log into a listener (where, the
token, main's levels, the shipping policy, the line format). ``setup_listener`` takes the
shipping options as keywords and builds one :class:`Shipping`; nothing re-declares them.
Both sides of the pipe import this module, so it imports neither; every spawned worker
imports it, so it leaves out ``dataclasses`` and ``typing`` (see ``mplog._frozen``).
"""

from __future__ import annotations

import logging
import os

from mplog._frozen import field, frozen, replace

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    # Only the listener's side and network senders use these: a spawned worker on a local
    # listener's text line path skips both imports (0.4 ms of its start, `-X importtime`).
    from mplog._lineplan import LinePlan
    from mplog._tls import Tls

#: The format of ``setup_listener(filename)`` and of records a process writes to stderr
#: when the listener cannot take them.
DEFAULT_FORMAT = "%(asctime)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"
#: The record attribute carrying a structured exception summary (for JSON and trackers).
EXC_FIELD = "mplog_exc"
#: The fields mplog stamps on every record besides the user's own ``context()`` fields.
POOL_FIELDS = ("worker_index", "task_id", "task_name", "hostname")
#: Attributes a LogRecord has of its own (or gets from a formatter, or from mplog): anything
#: else on a record is an ``extra=`` or context field.
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    EXC_FIELD,
}

#: The environment variable a network key is read from when no key is given.
KEY_ENV = "MPLOG_KEY"
#: The largest frame a network sender may send (bytes, header excluded): see FrameReader.
MAX_FRAME = 1 << 20
#: The smallest spool a network sender may have: room for the largest frame.
MIN_SPOOL = MAX_FRAME + 16

Address = str | tuple[str, int]
LineFormat = tuple[str, str | None, str]


def to_level(level: int | str) -> int:
    """A level number from a number or a name ("INFO", "debug"); a clear error otherwise."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"unknown logging level {level!r}: use a number or one of DEBUG, INFO, WARNING, "
        "ERROR, CRITICAL"
    )


@frozen
class Shipping:
    """How every process ships its records to the listener.

    When the listener falls behind and a process's stream is full, ``on_full="block"`` waits
    (lossless), ``on_full="drop"`` drops and counts records below ``keep_level`` (all records
    when it is None) and blocks for the rest. A wait longer than ``block_timeout`` seconds
    means the listener is stuck: records then go to stderr. ``buffer_bytes`` sets the
    stream's kernel buffer (None: 1 MiB for a pipe, the system default for TCP).
    ``live_levels`` lets ``Listener.set_level`` reach running processes, with one small
    reader thread per process.

    A network (TCP) sender keeps every frame the listener has not yet acknowledged in a
    spool of at most ``spool_bytes`` bytes (in memory), so that it can reconnect after an
    outage and resend them, in order, without loss or duplicates; beyond the bound,
    ``on_full`` applies as to a full stream. Local (pipe) senders have no spool.
    ``spool_dir`` also keeps each process's spool in a file there, which outlives the
    process: the next process that spools in that directory sends what it left.
    """

    on_full: str = "block"
    keep_level: int | str | None = None
    block_timeout: float | None = 60.0
    buffer_bytes: int | None = None
    live_levels: bool = True
    spool_bytes: int = 8 << 20
    spool_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.on_full not in ("block", "drop"):
            raise ValueError(f"on_full must be 'block' or 'drop', got {self.on_full!r}")
        if self.keep_level is not None:
            object.__setattr__(self, "keep_level", to_level(self.keep_level))
        if self.block_timeout is not None and not self.block_timeout > 0:
            raise ValueError(f"block_timeout must be positive or None, got {self.block_timeout}")
        if self.buffer_bytes is not None and (
            not isinstance(self.buffer_bytes, int) or self.buffer_bytes <= 0
        ):
            raise ValueError(
                f"buffer_bytes must be a positive number of bytes or None, got "
                f"{self.buffer_bytes!r}"
            )
        if self.spool_dir is not None:
            if not isinstance(self.spool_dir, (str, os.PathLike)):
                raise TypeError(
                    f"spool_dir must be a directory path or None, got {self.spool_dir!r}"
                )
            object.__setattr__(self, "spool_dir", os.path.abspath(os.fspath(self.spool_dir)))
        if not isinstance(self.spool_bytes, int) or self.spool_bytes < MIN_SPOOL:
            raise ValueError(
                f"spool_bytes must be at least {MIN_SPOOL} bytes (one frame of the largest "
                f"size a network sender may send), got {self.spool_bytes!r}"
            )

    @property
    def drop_below(self) -> int:
        """Records below this level may be dropped when the stream is full (-1: none)."""
        if self.on_full == "block":
            return -1
        return 2**31 if self.keep_level is None else int(self.keep_level)


@frozen
class WorkerConfig:
    """What a child needs to log into a listener: small, picklable, safe to send anywhere.

    Get it from :attr:`mplog.Listener.worker_config` and pass it to
    :func:`mplog.configure_worker` in the child. It carries the listener's address and token,
    main's logger levels, the :class:`Shipping` policy and, when the listener writes finished
    lines, the ``(fmt, datefmt, style)`` each process formats its own records with.
    """

    address: Address
    token: str
    root_level: int = logging.WARNING
    levels: tuple[tuple[str, int], ...] = ()
    shipping: Shipping = field(default_factory=Shipping)
    line_format: LineFormat | None = None
    #: How each process formats and routes lines for the listener's handlers (when
    #: ``line_format`` is None): see ``mplog._lineplan``.
    plan: LinePlan | None = None
    #: The shared key a network (TCP) connection proves it holds (None: the token).
    key: bytes | None = field(default=None, repr=False)
    #: TLS around the network connection (``mplog.connect(tls=...)``), or None.
    tls: Tls | None = None

    def with_levels(self, root_level: int, levels: tuple[tuple[str, int], ...]) -> WorkerConfig:
        """A copy carrying these logger levels."""
        return replace(self, root_level=root_level, levels=levels)


@frozen
class NetworkLimits:
    """The limits that keep hostile network connections from harming the listener:
    ``setup_listener(listen=..., network_limits=NetworkLimits(...))``.

    A connection must send a hello proving the key within ``handshake_timeout`` seconds; at
    most ``max_connections`` are open at once, ``max_unauthenticated`` of them before their
    hello; a frame over ``max_frame`` bytes is refused at its header; an authenticated
    sender that stops in the middle of a frame for ``stall_timeout`` seconds is cut off.
    """

    handshake_timeout: float = 5.0
    max_connections: int = 256
    max_unauthenticated: int = 32
    max_frame: int = MAX_FRAME
    stall_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("handshake_timeout", "stall_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(
                    f"NetworkLimits({name}=...) must be a positive number of seconds, got {value!r}"
                )
        for name in ("max_connections", "max_unauthenticated", "max_frame"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"NetworkLimits({name}=...) must be a positive whole number, got {value!r}"
                )
        if self.max_frame > MAX_FRAME:
            raise ValueError(
                f"NetworkLimits(max_frame=...) can be at most {MAX_FRAME} bytes (what a sender "
                f"may send), got {self.max_frame}; lower it, or leave it out"
            )
        if self.max_unauthenticated > self.max_connections:
            raise ValueError(
                f"NetworkLimits(max_unauthenticated={self.max_unauthenticated}) is over "
                f"max_connections={self.max_connections}: raise max_connections or lower it"
            )


@frozen
class Network:
    """Where remote senders connect (``listen=``), the key they must prove they hold, TLS,
    and the :class:`NetworkLimits`."""

    host: str
    port: int
    #: None: the listener's random token (only on a loopback address).
    key: bytes | None = field(default=None, repr=False)
    #: TLS around every network connection (None: none; see :class:`Tls`).
    tls: Tls | None = None
    limits: NetworkLimits = field(default_factory=NetworkLimits)

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect."""
        return is_loopback(self.host)

    @classmethod
    def parse(
        cls,
        listen: str | tuple[str, int],
        key: bytes | str | None = None,
        key_env: str | None = None,
        key_file: str | os.PathLike[str] | None = None,
        tls: object = None,
        limits: NetworkLimits | None = None,
    ) -> Network:
        """``setup_listener(listen=..., key=..., tls=..., network_limits=...)``, checked: a key
        is required unless only this machine can connect."""
        host, port = parse_address(listen)
        secret = load_key(key, key_env, key_file)
        if secret is None and not is_loopback(host):
            raise ValueError(
                f"listen={listen!r} accepts connections from other machines, so it needs a "
                f"key every sender must prove it holds: pass key=, key_env= or key_file=, or "
                f"set {KEY_ENV} (or listen on 127.0.0.1 / [::1])"
            )
        if limits is not None and not isinstance(limits, NetworkLimits):
            raise TypeError(
                f"network_limits= takes a mplog.NetworkLimits, got {type(limits).__name__}: "
                "network_limits=mplog.NetworkLimits(max_connections=1024)"
            )
        from mplog._tls import Tls

        tls_setting = Tls.of(tls, server=True)
        return cls(host, port, secret, tls=tls_setting, limits=limits or NetworkLimits())


@frozen
class NetworkAccess:
    """What a sender elsewhere needs to reach a listener started with ``listen=``
    (:attr:`mplog.Listener.network_access`): ``address`` as bound (``(host, port)`` with the
    real port; a wildcard host such as ``0.0.0.0`` stands for this machine's addresses), the
    ``key`` it must prove (the listener's token when none was given on a loopback address),
    and ``tls``: whether it must speak TLS (it brings its own CA: ``mplog.connect(tls=...)``)."""

    address: tuple[str, int]
    key: bytes = field(repr=False)
    tls: bool = False


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """``(host, port)`` from ``"host:port"``, ``"[::1]:port"`` or a tuple; a clear error
    otherwise."""
    if isinstance(address, tuple):
        host, port = address
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(
                f"network address {address!r} needs a port: 'host:port', '[::1]:port' "
                "(port 0 picks a free one)"
            )
        host, port = host.removeprefix("[").removesuffix("]"), int(port_text)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be 0 to 65535, got {port!r}")
    return str(host), port


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host == "localhost":
        return True
    import ipaddress  # only where a listener listens or a sender connects, not in workers

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_key(
    key: bytes | str | None = None,
    key_env: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> bytes | None:
    """The network key from ``key=``, the ``key_env`` variable, a ``key_file`` (readable by
    its owner only), or else the ``MPLOG_KEY`` variable; None when there is none."""
    sources = (("key", key), ("key_env", key_env), ("key_file", key_file))
    given = [name for name, value in sources if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one source of the key, not {' and '.join(given)}")
    if key_file is not None:
        from mplog._tls import check_private

        check_private(key_file, "the key file")
        with open(key_file, "rb") as f:
            key = f.read().strip()
    elif key is None:
        name = key_env or KEY_ENV
        key = os.environ.get(name)
        if key is None and key_env is not None:
            raise ValueError(f"the environment variable {key_env} (key_env=) is not set")
    if key is None:
        return None
    data = key.encode() if isinstance(key, str) else bytes(key)
    if len(data) < 16:
        raise ValueError(
            "the network key is too short: use at least 16 bytes, e.g. "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return data
