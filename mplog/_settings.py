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
import stat

from mplog._frozen import field, frozen, replace

TYPE_CHECKING = False  # see the module docstring
if TYPE_CHECKING:
    import ssl

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
    #: The shared key a network (TCP) connection proves it holds (None: the token).
    key: bytes | None = field(default=None, repr=False)
    #: TLS around the network connection (``mplog.connect(tls=...)``), or None.
    tls: Tls | None = None

    def with_levels(self, root_level: int, levels: tuple[tuple[str, int], ...]) -> WorkerConfig:
        """A copy carrying these logger levels."""
        return replace(self, root_level=root_level, levels=levels)


@frozen
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
    #: TLS around every network connection (None: none; see :class:`Tls`).
    tls: Tls | None = None

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
    ) -> Network:
        """``setup_listener(listen=..., key=..., tls=...)``, checked: a key is required unless
        only this machine can connect."""
        host, port = parse_address(listen)
        secret = load_key(key, key_env, key_file)
        if secret is None and not is_loopback(host):
            raise ValueError(
                f"listen={listen!r} accepts connections from other machines, so it needs a "
                f"key every sender must prove it holds: pass key=, key_env= or key_file=, or "
                f"set {KEY_ENV} (or listen on 127.0.0.1 / [::1])"
            )
        return cls(host, port, secret, tls=Tls.of(tls, server=True))


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


def check_private(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a secret file (a key) that others than its owner can read or write."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(
            f"{what} {os.fspath(path)!r} can be read by others "
            f"(mode {stat.filemode(mode)}): run chmod 600 on it"
        )


@frozen
class Tls:
    """TLS around network connections: ``setup_listener(tls=...)`` and ``mplog.connect(tls=...)``.

    On the listener: ``cert`` and ``key`` (PEM files; ``key`` may be left out when ``cert``
    holds it) and, for mutual TLS, ``ca``: the CA that signs the senders' certificates, which
    every sender must then present. On a sender: ``ca`` verifies the listener's certificate
    (None: the system's CAs) and ``cert``/``key`` are its client certificate. Or ``context``:
    a ready :class:`ssl.SSLContext` (it cannot be sent to a spawned process: use files there).
    Private key files must be readable by their owner only.
    """

    cert: str | None = None
    key: str | None = field(default=None, repr=False)
    ca: str | None = None
    context: ssl.SSLContext | None = field(default=None, repr=False)

    @classmethod
    def of(cls, value: object, *, server: bool) -> Tls | None:
        """The ``tls=`` argument, checked: None/False (no TLS), a :class:`Tls`, an
        :class:`ssl.SSLContext`, ``(cert, key)`` or ``(cert, key, ca)`` file paths; on a
        sender also True (the system's CAs) or the path of the CA file."""
        import ssl  # not at import: every spawned worker imports this module

        paths = (str, os.PathLike)
        if value is None or value is False:
            return None
        if isinstance(value, Tls):
            tls = value
        elif isinstance(value, ssl.SSLContext):
            tls = cls(context=value)
        elif value is True and not server:
            tls = cls()
        elif isinstance(value, paths) and not server:
            tls = cls(ca=os.fspath(value))
        elif (
            isinstance(value, tuple)
            and len(value) in (2, 3)
            and all(v is None or isinstance(v, paths) for v in value)
        ):
            cert, key, ca = (*(None if v is None else os.fspath(v) for v in value), None)[:3]
            tls = cls(cert, key, ca)
        else:
            forms = "(cert, key), (cert, key, client_ca)" if server else "True, a CA file path"
            raise TypeError(
                f"tls= takes an ssl.SSLContext, mplog.Tls(...) or {forms}; got {value!r}"
            )
        tls.make_context(server=server)  # a bad file fails here, before anything starts
        return tls

    def make_context(self, *, server: bool) -> ssl.SSLContext:
        """The SSLContext for the listener's side (``server``) or a sender's."""
        import ssl  # see of()

        if self.context is not None:
            wrong = ssl.PROTOCOL_TLS_CLIENT if server else ssl.PROTOCOL_TLS_SERVER
            if self.context.protocol == wrong:
                side = "a listener needs ssl.Purpose.CLIENT_AUTH" if server else "a sender needs"
                raise ValueError(
                    f"tls= got an SSLContext for the other side: {side} "
                    "(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) on the listener, "
                    "ssl.create_default_context() on a sender)"
                )
            return self.context
        if server and self.cert is None:
            raise ValueError("a listener's tls= needs its certificate and key: (cert, key)")
        for what, path in (("certificate", self.cert), ("key", self.key), ("CA", self.ca)):
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"the TLS {what} file {path!r} does not exist")
        if self.key is None and self.cert is not None and self.key_in_cert():
            check_private(self.cert, "the TLS certificate file (it holds the private key)")
        if self.key is not None:
            check_private(self.key, "the TLS key file")
        try:
            return self._build(server)
        except ssl.SSLError as exc:
            raise ValueError(
                f"cannot use the TLS files (cert={self.cert!r}, key=..., ca={self.ca!r}): "
                f"{exc}; check they are PEM files and that the key matches the certificate"
            ) from exc

    def key_in_cert(self) -> bool:
        """Whether the certificate file also holds the private key."""
        assert self.cert is not None
        with open(self.cert, "rb") as f:
            return b"PRIVATE KEY-----" in f.read()

    def _build(self, server: bool) -> ssl.SSLContext:
        import ssl  # see of()

        if server:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.ca is not None:  # mutual TLS: every sender shows a certificate it signed
                context.load_verify_locations(self.ca)
                context.verify_mode = ssl.CERT_REQUIRED
        else:
            context = ssl.create_default_context(cafile=self.ca)
        if self.cert is not None:
            context.load_cert_chain(self.cert, self.key)
        return context

    def __getstate__(self) -> dict[str, object]:
        if self.context is not None:
            raise TypeError(
                "tls= holds an ssl.SSLContext, which cannot be sent to another process: give "
                "the certificate files instead (tls=(cert, key[, ca]) or mplog.Tls(...))"
            )
        return dict(self.__dict__)
