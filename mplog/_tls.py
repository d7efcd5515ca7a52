"""The TLS setting, ``tls=`` on both sides of a network connection, declared and checked once;
and the check that a secret file (a key, a TLS private key) is private.

Both sides import it, and so does every spawned worker (through ``mplog._settings``): it
imports ``ssl`` only when a TLS context is made (``ssl`` costs a spawned worker several
milliseconds).
"""

from __future__ import annotations

import os
import stat

from mplog._frozen import field, frozen

TYPE_CHECKING = False  # typing and ssl are not imported at run time
if TYPE_CHECKING:
    import ssl


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
        if value is None or value is False:
            return None
        import ssl  # only for TLS (8 ms): every spawned worker imports this module

        paths = (str, os.PathLike)
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
