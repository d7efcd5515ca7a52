"""What crosses from main to every logging process, declared and checked here once.

:class:`Shipping` is how each process ships (overflow policy, wait bound, buffer, live
levels); :class:`WorkerConfig` is everything a child needs to log into a listener (where, the
token, main's levels, the shipping policy, the line format). ``setup_listener`` takes the
shipping options as keywords and builds one :class:`Shipping`; nothing re-declares them.
Both sides of the pipe import this module, so it imports neither.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
from dataclasses import dataclass, field, replace
from typing import cast

from mplog._lineplan import LinePlan

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


@dataclass(frozen=True)
class Shipping:
    """How every process ships its records to the listener.

    When the listener falls behind and a process's stream is full, ``on_full="block"`` waits
    (lossless), ``on_full="drop"`` drops and counts records below ``keep_level`` (all records
    when it is None) and blocks for the rest. A wait longer than ``block_timeout`` seconds
    means the listener is stuck: records then go to stderr. ``buffer_bytes`` sets the
    stream's kernel buffer (None: 1 MiB for a pipe, the system default for TCP).
    ``live_levels`` lets ``Listener.set_level`` reach running processes, with one small
    reader thread per process.
    """

    on_full: str = "block"
    keep_level: int | str | None = None
    block_timeout: float | None = 60.0
    buffer_bytes: int | None = None
    live_levels: bool = True

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

    @property
    def drop_below(self) -> int:
        """Records below this level may be dropped when the stream is full (-1: none)."""
        if self.on_full == "block":
            return -1
        return 2**31 if self.keep_level is None else cast("int", self.keep_level)


@dataclass(frozen=True)
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

    def with_levels(self, root_level: int, levels: tuple[tuple[str, int], ...]) -> WorkerConfig:
        """A copy carrying these logger levels."""
        return replace(self, root_level=root_level, levels=levels)


@dataclass(frozen=True)
class Network:
    """Where remote senders connect (``listen=``), the key they must prove they hold, and
    the limits that keep hostile connections from harming the listener."""

    host: str
    port: int
    #: None: the listener's random token (only on a loopback address).
    key: bytes | None = field(default=None, repr=False)
    handshake_timeout: float = 5.0
    max_connections: int = 256
    max_unauthenticated: int = 32
    max_frame: int = MAX_FRAME

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
    ) -> Network:
        """``setup_listener(listen=..., key=...)``, checked: a key is required unless only
        this machine can connect."""
        host, port = parse_address(listen)
        secret = load_key(key, key_env, key_file)
        if secret is None and not is_loopback(host):
            raise ValueError(
                f"listen={listen!r} accepts connections from other machines, so it needs a "
                f"key every sender must prove it holds: pass key=, key_env= or key_file=, or "
                f"set {KEY_ENV} (or listen on 127.0.0.1 / [::1])"
            )
        return cls(host, port, secret)


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
        mode = os.stat(key_file).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(
                f"the key file {os.fspath(key_file)!r} can be read by others "
                f"(mode {stat.filemode(mode)}): run chmod 600 on it"
            )
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
