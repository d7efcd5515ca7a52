"""Network senders that reconnect: what the listener has written of each, acknowledgements,
and the frames sent again that it skips.

Listener side only. A network sender numbers every frame it sends after its hello (the
hello says the number of the first) and keeps each in its spool until the listener
acknowledges it; after a reconnect it sends the spool again. The listener counts each
connection's frames the same way, remembers per sender identity (``sid``, scoped by the
address it connects from) the last frame it handled, for its own lifetime (up to
:data:`MAX_SENDERS` identities, the oldest forgotten first), skips a frame it has already
handled, and acknowledges after every read that handled some (``KIND_ACK``: the last
number), and when it closes the connection. So a record reaches the handlers once while
this listener lives; across a clean restart too, since the drain acknowledges everything
it handled.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from time import monotonic
from typing import Any

from mplog import _frames, _protocol
from mplog._listener.peers import Peer

#: Sender identities remembered (the oldest is forgotten first: a sender forgotten while
#: disconnected may have frames written twice if it resends them).
MAX_SENDERS = 1 << 16
_MAX_SID = 256
#: How long a handled frame may wait for its acknowledgement (seconds). Acknowledging after
#: every read cost the listener a send per read and woke each sender's connection thread as
#: often: at 8 TCP senders that send was a quarter of the listener's time (py-spy).
ACK_EVERY = 0.02


class Acks:
    """What each network sender has had written, by identity, and the acknowledgements."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, int] = OrderedDict()
        self._latest: dict[str, Peer] = {}
        self._waiting: set[Peer] = set()  # handled frames not acknowledged yet
        self.counts: Counter[str] = Counter(reconnects=0, duplicates_skipped=0)

    def hello(self, peer: Peer, hello: dict[str, Any]) -> Peer | None:
        """Take a network sender's identity and first sequence number from its hello (a
        sender without one is not numbered); return its previous connection, if any."""
        sid, seq = hello.get("sid"), hello.get("seq")
        if sid is None:
            return None
        if type(sid) is not str or not 0 < len(sid) <= _MAX_SID:
            raise ValueError("a hello whose sid is not a short text")
        if type(seq) is not int or not 0 < seq < 2**62:
            raise ValueError("a hello whose seq is not a positive number")
        # Scoped by the address it connects from: a key holder elsewhere cannot claim
        # another sender's identity to have that sender's records skipped.
        sid = peer.sid = f"{peer.remote}|{sid}"
        peer.seq = seq
        spool = hello.get("spool")
        if spool is not None:
            if type(spool) is not int or spool <= 0:
                raise ValueError("a hello whose spool is not a positive number of bytes")
            peer.ack_bytes = spool // 2
        done = self._done.pop(sid, seq - 1)
        self._done[sid] = done  # the newest now
        peer.acked = seq - 1  # what the sender knows is written
        earlier = self._latest.get(sid)
        self._latest[sid] = peer
        if len(self._done) > MAX_SENDERS:
            forgotten, _ = self._done.popitem(last=False)
            self._latest.pop(forgotten, None)
        if earlier is not None:
            self.counts["reconnects"] += 1
        return earlier

    def fresh(self, peer: Peer, item: _frames.Item) -> _frames.Item | None:
        """Number ``item`` (a frame, or a run of lines: one number each); return what of it
        was not handled before (None: all of it was)."""
        assert peer.sid is not None
        assert not isinstance(item, list)  # runs of records come from local processes only
        count = len(item.levels) if isinstance(item, _frames.LineRun) else 1
        first = peer.seq
        peer.seq += count
        skip = self._done.get(peer.sid, first - 1) - first + 1
        if skip >= count:
            self.counts["duplicates_skipped"] += count
            return None
        self._done[peer.sid] = first + count - 1
        if skip <= 0:
            return item
        self.counts["duplicates_skipped"] += skip
        assert isinstance(item, _frames.LineRun)
        dests = None if item.dests is None else item.dests[skip:]
        return _frames.LineRun(item.levels[skip:], item.lines[skip:], dests)

    def handled(self, peer: Peer, size: int) -> None:
        """``peer``'s last read (``size`` bytes) was handled: acknowledge now if it said
        goodbye or half its spool is waiting, else by ACK_EVERY from the oldest waiting."""
        if peer.sid is None:
            return
        peer.unacked_bytes += size
        if peer.said_bye or peer.unacked_bytes >= peer.ack_bytes:
            self.confirm(peer)
        elif peer not in self._waiting:
            peer.ack_due = monotonic() + ACK_EVERY
            self._waiting.add(peer)

    def send_due(self) -> None:
        """Acknowledge to every sender whose oldest waiting frame is ACK_EVERY old."""
        if self._waiting:
            now = monotonic()
            for peer in [peer for peer in self._waiting if peer.ack_due <= now]:
                self.confirm(peer)

    def next_due(self) -> float | None:
        """When the next acknowledgement is due (monotonic), if one waits."""
        return min((peer.ack_due for peer in self._waiting), default=None)

    def confirm(self, peer: Peer) -> None:
        """Acknowledge to ``peer`` every frame of its identity handled so far."""
        self._waiting.discard(peer)
        peer.unacked_bytes = 0
        done = self._done.get(peer.sid or "", 0)
        if peer.sid is not None and done > peer.acked:
            peer.acked = done
            peer.send_quietly(_protocol.frame(_protocol.KIND_ACK, _protocol.ACK.pack(done)))
