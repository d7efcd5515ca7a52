"""The listener's network side: the TCP socket remote senders connect to, and its guard.

Listener side only. Every network connection is a stranger until it proves it holds the
shared key: the gate sends it a random challenge at once, and its hello must carry
HMAC-SHA256(key, challenge) (``mplog._protocol.answer``; the key never travels). Until then
it may send one hello of bounded size within ``handshake_timeout`` seconds, nothing else.
With TLS (``Network.tls``) the TLS handshake comes first, inside the same deadline, and runs
non-blocking in the loop (:meth:`Gate.shake`): a slow or bogus TLS client holds up nobody; the
challenge is sent once it is done, so the HMAC handshake runs inside TLS.
Frames from the network are size-limited before they are buffered and decoded by
``mplog._listener.untrusted`` (never unpickled, never evaluated). Connections over the
limits, unauthenticated, slow, malformed or oversized are cut off, counted (``stats()
["network"]``) and logged with their reason, at most a few lines per second.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from mplog import _frames, _protocol
from mplog._listener.peers import Peer
from mplog._settings import Network

#: At most this many cut-off reasons are logged per second; the rest are only counted.
_REPORTS_PER_SECOND = 5
REASONS = ("rejected_auth", "oversized", "malformed", "timed_out", "over_limit", "stalled")
#: With TLS, also: handshakes that failed (a plaintext client, a bad or missing certificate).
TLS_FAILED = "tls_failed"


def bind(network: Network) -> socket.socket:
    """Listen on ``network``'s host and port (IPv4 or IPv6, by the host's form)."""
    infos = socket.getaddrinfo(
        network.host, network.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


class Gate:
    """Admit network connections that prove they hold ``key``; cut off the rest."""

    def __init__(
        self, server: socket.socket, key: bytes, network: Network, *, control: bool = False
    ) -> None:
        self.server = server
        self._key = key
        self._network = network
        #: Whether a connection may be the supervisor's (only when the key is the listener's
        #: private token, as with ``address=(host, port)``, never with a shared key).
        self._control = control
        #: Where cut-off notices go (the loop sets it to log them through the handlers).
        self.report: Callable[[str], None] = lambda message: None
        reasons = REASONS if network.tls is None else (*REASONS, TLS_FAILED)
        self.counts: Counter[str] = Counter({reason: 0 for reason in reasons})
        #: Connections not yet authenticated, and their deadlines.
        self._strangers: dict[socket.socket, tuple[Peer, float]] = {}
        self._open = 0
        self._window = (0, 0)  # (second, reports logged in it)
        self._tls = None if network.tls is None else network.tls.make_context(server=True)
        self._next_stall_check = 0.0

    def admit(self, sock: socket.socket) -> Peer | None:
        """A new connection: a Peer that has been sent its challenge, or None (over limits)."""
        if (
            self._open >= self._network.limits.max_connections
            or len(self._strangers) >= self._network.limits.max_unauthenticated
        ):
            self._refuse(sock, "over_limit", "too many connections")
            return None
        try:
            remote = str(sock.getpeername()[0])
            if self._tls is not None:  # the handshake is done by shake(), as data comes
                sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError:  # gone already
            sock.close()
            return None
        peer = Peer(sock, reader=_frames.FrameReader(self._network.limits.max_frame))
        peer.remote = remote
        peer.lines = self._control
        peer.tls_pending = self._tls is not None
        self._open += 1
        self._strangers[sock] = (peer, time.monotonic() + self._network.limits.handshake_timeout)
        if not peer.tls_pending and not self._challenge(peer):
            self.closed(peer)
            sock.close()
            return None
        return peer

    def _challenge(self, peer: Peer) -> bool:
        """Send ``peer`` its challenge; False if it is gone already."""
        peer.challenge = secrets.token_bytes(32)
        try:
            peer.sock.send(_protocol.frame(_protocol.KIND_CHALLENGE, peer.challenge))
        except OSError:
            return False
        return True

    def shake(self, peer: Peer) -> bool | None:
        """Go on with ``peer``'s TLS handshake: True when done (and challenged), None while it
        waits for data, False when it failed (counted; the loop closes it)."""
        assert isinstance(peer.sock, ssl.SSLSocket)
        try:
            peer.sock.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except (OSError, ValueError) as exc:
            self.cut_off(peer, TLS_FAILED, f"TLS handshake failed: {exc}")
            return False
        peer.tls_pending = False
        return self._challenge(peer)

    def verify(self, peer: Peer, hello: dict[str, Any]) -> bool:
        """Whether ``hello`` proves the key; a stranger's only chance."""
        self._strangers.pop(peer.sock, None)
        proof = hello.get("auth")
        expected = _protocol.answer(self._key, peer.challenge)
        if not isinstance(proof, str) or not hmac.compare_digest(proof, expected):
            self.cut_off(peer, "rejected_auth", "its hello did not prove the key")
            return False
        if hello.get("role") != "worker" and not self._control:
            self.cut_off(peer, "malformed", "a network sender may only log")
            return False
        return True

    def cut_off(self, peer: Peer, reason: str, detail: str) -> None:
        """Count and (rate-limited) log why ``peer`` is being cut off (the loop closes it)."""
        self.counts[reason] += 1
        who = peer.remote if peer.pid is None else f"{peer.remote} (pid {peer.pid})"
        self._say(f"network connection from {who} cut off ({reason}): {detail}")

    def closed(self, peer: Peer) -> None:
        """``peer``'s connection is gone."""
        if peer.remote is not None:
            self._strangers.pop(peer.sock, None)
            self._open -= 1

    def overdue(self) -> list[Peer]:
        """Strangers whose handshake deadline has passed (counted as timed out)."""
        now = time.monotonic()
        late = [peer for peer, due in self._strangers.values() if due <= now]
        for peer in late:
            self.cut_off(
                peer, "timed_out", f"no valid hello in {self._network.limits.handshake_timeout}s"
            )
        return late

    def stalled(self, peers: Iterable[Peer]) -> list[Peer]:
        """Authenticated senders stopped in the middle of a frame for ``stall_timeout`` s
        (they would hold their partial frame forever), counted as stalled. Looked for at
        most twice per ``stall_timeout``."""
        now = time.monotonic()
        limit = self._network.limits.stall_timeout
        if now < self._next_stall_check:
            return []
        self._next_stall_check = now + min(1.0, limit / 2)
        late = [
            peer
            for peer in peers
            if peer.remote is not None
            and peer.pid is not None
            and peer.reader.pending
            and now - peer.last_data >= limit
        ]
        for peer in late:
            self.cut_off(peer, "stalled", f"nothing more of its frame for {limit}s")
        return late

    def handshaking(self) -> list[socket.socket]:
        """The sockets whose data a network sender waits for: new connections, and hellos."""
        return [self.server, *self._strangers]

    def next_due(self) -> float | None:
        """When the earliest handshake deadline passes, or None."""
        return min((due for _, due in self._strangers.values()), default=None)

    def _refuse(self, sock: socket.socket, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        try:
            who = sock.getpeername()[0]
        except OSError:
            who = "?"
        sock.close()
        self._say(f"network connection from {who} refused ({reason}): {detail}")

    def _say(self, message: str) -> None:
        second = int(time.monotonic())
        window, said = self._window
        said = said + 1 if window == second else 1
        self._window = (second, said)
        if said <= _REPORTS_PER_SECOND:
            self.report(message)
        elif said == _REPORTS_PER_SECOND + 1:
            self.report("more network connections cut off this second: see stats()['network']")

    def close(self) -> None:
        """Stop listening."""
        self.server.close()
