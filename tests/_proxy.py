"""A small TCP forwarder for the tests: it relays connections to a target and, on demand,
cuts every one of them at once (with a reset), losing whatever it had read but not yet
forwarded, as a network that fails would."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading


class Proxy:
    """Relay ``127.0.0.1:<port>`` to ``target``; :meth:`cut` drops every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        """Forward both ways in chunks (a chunk read when the cut comes is lost)."""
        peers = {a: b, b: a}
        while True:
            try:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(4096)
                    if not data:
                        raise OSError("closed")
                    peers[sock].sendall(data)
            except (OSError, ValueError):
                self._reset(a, b)
                a.close()
                b.close()
                return

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        """Make the sockets' close a reset, and wake their relay thread."""
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)

    def connections(self) -> int:
        """How many connections have been made since the last cut."""
        with self._lock:
            return len(self._pairs)

    def cut(self) -> None:
        """Reset every connection relayed now, both ways."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            self._reset(a, b)
        self.cuts += 1

    def close(self) -> None:
        self.server.close()
        self.cut()
