"""A network sender's spool: the frames the listener has not yet acknowledged, in order.

Every frame a network sender sends after its hello gets the next sequence number (1, 2, ...;
implicit: the listener counts them the same way). A frame stays here from the moment it is
sent (or kept while the connection is down) until the listener acknowledges it, so that
after a reconnect it can be sent again; the listener skips those it has already written.
What one logging call sends is one entry, which may be several frames (a record's lines for
several handlers): it counts as that many (counted when it leaves, by the connection thread,
not by the logging call), and leaves once its last frame is acknowledged.
The spool's size is bounded: a frame that does not fit is the caller's to drop or wait for.

:class:`FileSpool` (``Shipping(spool_dir=...)``) also writes every frame to a file of its
own in that directory, locked while the process lives, and records there which frames the
listener acknowledged. A process that ends with frames unacknowledged (killed, crashed, or
the listener away at its exit) leaves its file; the next process that opens a spool in the
same directory takes such files over (:func:`adopt`) and sends their frames before its own.
Frames the listener wrote but had not yet acknowledged when a process was killed are then
written twice (at-least-once); nothing is lost that reached the file (the page cache:
a killed process, not a power cut).
"""

from __future__ import annotations

import fcntl
import glob
import os
import struct
import sys
from collections import deque

from mplog import _frames, _protocol
from mplog._settings import MAX_FRAME


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
        """Hold ``frame`` (one or more whole frames: an entry), the next in sequence."""
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
        """The listener has handled every frame up to ``seq``: forget the entries it ends."""
        frames = self._frames
        while frames:
            count = _protocol.count_frames(frames[0])
            if self.first + count - 1 > seq:
                return
            self.size -= len(frames.popleft())
            self.first += count

    def frames(self) -> list[bytes]:
        """Every frame held, oldest first (to send again after a reconnect)."""
        return list(self._frames)

    def take(self) -> list[bytes]:
        """Every frame held, oldest first, emptying the spool (they will not be delivered)."""
        frames = list(self._frames)
        self.acknowledge(self.first + sum(map(_protocol.count_frames, frames)) - 1)
        return frames

    def release(self, *, ours: bool = True) -> list[bytes]:
        """The end: the frames never acknowledged, for the caller to write elsewhere."""
        return self.take() if ours else []


_MAGIC = b"mplog-spool-1\n"
_OFFSET = struct.Struct("!Q")
_START = len(_MAGIC) + _OFFSET.size
#: The frames a process may take over from another's file (not its goodbye or notices).
_ADOPTED = frozenset(
    {_protocol.KIND_RECORD, _protocol.KIND_LINE, _protocol.KIND_DEST_LINE, _protocol.KIND_DROPPED}
)


class FileSpool(Spool):
    """A :class:`Spool` also kept in ``<directory>/<name>.spool`` (see the module)."""

    def __init__(self, limit: int, directory: str, name: str) -> None:
        super().__init__(limit)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.path = os.path.join(directory, name.replace("/", "_") + ".spool")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.write(self._fd, _MAGIC + _OFFSET.pack(_START))
        self._start = _START  # where the oldest unacknowledged frame is in the file
        for frame in adopt(directory, limit):
            self.add(frame)

    def add(self, frame: bytes) -> None:
        super().add(frame)
        os.write(self._fd, frame)

    def push(self, frame: bytes) -> bool:
        if not super().push(frame):
            return False
        os.write(self._fd, frame)
        return True

    def acknowledge(self, seq: int) -> None:
        size = self.size
        super().acknowledge(seq)
        if self.size == size:
            return
        if self._frames:
            self._start += size - self.size
        else:  # all acknowledged: start the file again
            os.ftruncate(self._fd, _START)
            os.lseek(self._fd, _START, os.SEEK_SET)
            self._start = _START
        os.pwrite(self._fd, _OFFSET.pack(self._start), len(_MAGIC))

    def release(self, *, ours: bool = True) -> list[bytes]:
        """Close the file: removed when everything was acknowledged, else left (unlocked)
        for the next process that spools in its directory. Nothing goes to stderr."""
        if ours and self._frames:
            sys.stderr.write(
                f"mplog: process {os.getpid()}: {len(self._frames)} frames the log listener "
                f"did not acknowledge are kept in {self.path}, for the next process that "
                "spools in its directory.\n"
            )
        elif ours:
            os.unlink(self.path)
        os.close(self._fd)
        return []


def adopt(directory: str, limit: int) -> list[bytes]:
    """Take over the spool files other processes left in ``directory`` (unlocked: their
    process ended), as long as their frames fit in ``limit`` bytes; return the frames."""
    frames: list[bytes] = []
    size = 0
    for path in sorted(glob.glob(os.path.join(directory, "*.spool"))):
        left = _left_in(path, limit - size)
        if left is not None:
            frames += left
            size += sum(len(frame) for frame in left)
    return frames


def _left_in(path: str, room: int) -> list[bytes] | None:
    """The unacknowledged frames of the orphaned spool file ``path`` (then removed), or None
    if it is in use, gone, or does not fit in ``room`` bytes (then left as it is)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:  # taken over by another process meanwhile
            return None
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        if not data.startswith(_MAGIC) or len(data) - _START > room:
            return None
        (start,) = _OFFSET.unpack_from(data, len(_MAGIC))
        reader = _frames.FrameReader(MAX_FRAME)
        frames = [_protocol.frame(kind, body) for kind, body in reader.feed(data[start:])]
        os.unlink(path)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return [frame for frame in frames if frame[4] in _ADOPTED]
