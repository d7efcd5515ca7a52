"""A network sender's spool: the frames the listener has not yet acknowledged, in order.

Every frame a network sender sends after its hello gets the next sequence number (1, 2, ...;
implicit: the listener counts them the same way). A frame stays here from the moment it is
sent (or kept while the connection is down) until the listener acknowledges it, so that
after a reconnect it can be sent again; the listener skips those it has already written.
The spool's size is bounded: a frame that does not fit is the caller's to drop or wait for.
"""

from __future__ import annotations

from collections import deque


class Spool:
    """Unacknowledged frames, oldest first, at most ``limit`` bytes of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frames: deque[bytes] = deque()
        #: The sequence number of the oldest frame held (or of the next one, when empty).
        self.first = 1
        #: Bytes held.
        self.size = 0

    def __len__(self) -> int:
        return len(self._frames)

    def has_room(self, size: int) -> bool:
        """Whether a frame of ``size`` bytes fits (one always fits in an empty spool)."""
        return self.size + size <= self.limit or not self._frames

    def add(self, frame: bytes) -> None:
        """Hold ``frame``, the next in sequence."""
        self._frames.append(frame)
        self.size += len(frame)

    def push(self, frame: bytes) -> bool:
        """Hold ``frame`` if it fits (:meth:`has_room` and :meth:`add` in one call, for the
        logging call's path); whether it did."""
        size = self.size + len(frame)
        if size > self.limit and self._frames:
            return False
        self._frames.append(frame)
        self.size = size
        return True

    def acknowledge(self, seq: int) -> None:
        """The listener has handled every frame up to ``seq``: forget them."""
        frames = self._frames
        while frames and self.first <= seq:
            self.size -= len(frames.popleft())
            self.first += 1

    def frames(self) -> list[bytes]:
        """Every frame held, oldest first (to send again after a reconnect)."""
        return list(self._frames)

    def take(self) -> list[bytes]:
        """Every frame held, oldest first, emptying the spool (they will not be delivered)."""
        frames = list(self._frames)
        self.acknowledge(self.first + len(frames) - 1)
        return frames
