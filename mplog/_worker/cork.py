"""Fuller TCP segments from a network sender: its socket is corked, and uncorked often.

::

    logging call -> sendall (the frame is in the kernel when the call returns) -> written():
                    the stream was quiet for FLUSH_EVERY? uncork now (a lone record);
                    the oldest waiting frame FLUSH_EVERY old? uncork now (this thread);
                    else the first frame after a flush arms the flusher thread
    flusher      -> sleeps until the oldest waiting frame is FLUSH_LATEST old and uncorks
                    (what a burst's last calls left); while a process logs steadily its own
                    calls have flushed before that, and the flusher goes back to sleep
    uncork       -> the kernel sends what waits as full segments; the socket is corked again

Why: with ``TCP_NODELAY`` alone most logging calls leave as a segment of their own, which
the kernel carries through the whole TCP path to the listener: 160,000 records from 4
senders took 56,996-71,200 segments; corked, 1,859-1,953 (``python -m benchmarks.segments``,
two runs on an otherwise idle machine).
A corked socket still holds every frame in the kernel before the call returns, and the
kernel sends what it holds when the process ends however it ends (``os._exit``, SIGKILL),
so the durability promise is unchanged; a lone record leaves at once, and the last records
of a burst up to FLUSH_LATEST later. Without an uncork the kernel would hold a partial
segment 200 ms.

The flusher thread wakes rarely on purpose: each wake takes the interpreter's lock from the
logging thread (see FLUSH_LATEST for what that cost).

Only where the platform has ``TCP_CORK`` (Linux); elsewhere the socket keeps
``TCP_NODELAY`` alone and nothing here runs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Callable

from mplog._worker.levels import start_thread

#: The logging thread uncorks when its frame finds the oldest waiting one this old (seconds):
#: a sender that logs without pause sends a segment about this often, from its own thread.
#: A frame after a quiet spell of this long leaves at once (a lone record waits for nothing).
FLUSH_EVERY = 0.001
#: The flusher thread uncorks what has waited this long (seconds): the last frames of a
#: burst, which no later frame pushes out, arrive up to this much later than with
#: TCP_NODELAY alone (as long as the listener's acknowledgements may wait, ``ACK_EVERY``).
#: Its wakes cost the logging thread: the machine's CPU for 8 senders x 20,000 records into
#: ``mplog serve`` (``python -m benchmarks.flush_interval``, medians of 5) was 188 ticks with
#: 4 ms, 172 with 20 ms, 166 with 100 ms and 163 with no flusher at all.
FLUSH_LATEST = 0.02

_CORK = getattr(socket, "TCP_CORK", None)
#: Whether this platform can cork a TCP socket (Linux).
AVAILABLE = _CORK is not None


#: Every stream's corker in this process (see flush_all).
_CORKERS: weakref.WeakSet[Corker] = weakref.WeakSet()


def flush_all() -> None:
    """Push out what every corked stream of this process holds: a listener stopping in
    this process reads its own network senders' last records (mplog.connect in the
    listener's process), as it reads those of its local handler."""
    for corker in list(_CORKERS):
        corker.flush()


def can_cork(sock: socket.socket) -> bool:
    """Whether ``sock`` is a TCP socket on a platform that has ``TCP_CORK``."""
    return AVAILABLE and sock.family in (socket.AF_INET, socket.AF_INET6)


def _set(sock: socket.socket, on: bool) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, _CORK or 0, int(on))


class Corker:
    """Corks the sockets of one stream; the frames in them leave within FLUSH_LATEST.

    ``current`` returns the stream's socket (None while it is down). While a sender logs
    steadily, its own calls uncork every FLUSH_EVERY (one clock read per call); the flusher
    thread wakes only to push out what a burst's last calls left, at most every FLUSH_LATEST,
    so it rarely takes the interpreter's lock from the logging thread.
    """

    def __init__(self, current: Callable[[], socket.socket | None]) -> None:
        self._current = current
        self._since: float | None = None  # when the oldest frame not flushed went in
        self._flushed = 0.0  # when the socket was last uncorked
        #: Whether the stream's current socket is corked (False: not TCP, no ``TCP_CORK``
        #: here, or no connection yet): nothing to flush then.
        self.corked = False
        self._armed = False  # the flusher thread is awake or sleeping towards a flush
        self._finished = False
        self._wake = threading.Event()
        _CORKERS.add(self)

    def cork(self, sock: socket.socket) -> bool:
        """Cork a new connection's socket; whether it is corked (False: not TCP, or no
        ``TCP_CORK`` here: its frames leave at once)."""
        self.corked = False
        if can_cork(sock):
            with contextlib.suppress(OSError):
                _set(sock, True)
                self.corked = True
        return self.corked

    def start(self) -> bool:
        """Start the flusher thread; whether one started (see ``levels.start_thread``:
        where it cannot be a daemon, ``stop`` ends it before the interpreter joins it)."""
        return start_thread(self._run, "mplog-flusher", self.stop)

    def written(self) -> None:
        """A frame went into a corked socket: flush now if the stream was quiet (a lone
        frame) or an older frame waited FLUSH_EVERY, else make sure the flusher thread will."""
        now = time.monotonic()
        since = self._since
        if since is None:
            if now - self._flushed >= FLUSH_EVERY:  # quiet until now: it leaves at once
                self.flush(now)
                return
            self._since = now
            if not self._armed:  # read after _since is set: see _run
                self._armed = True
                self._wake.set()
        elif now - since >= FLUSH_EVERY:
            self.flush(now)

    def stop(self) -> None:
        """End the flusher thread after one last flush."""
        self._finished = True
        self._wake.set()

    def flush(self, now: float | None = None) -> None:
        """Send what waits in the stream's socket now (``now``: the monotonic time, if the
        caller has it), and cork it again."""
        self._since = None  # before the uncork: a frame written meanwhile goes out with it
        self._flushed = time.monotonic() if now is None else now
        sock = self._current()
        if sock is None or not self.corked:
            return
        try:
            _set(sock, False)
            _set(sock, True)
        except OSError:  # the connection is ending: the stream's thread sees it too
            pass

    def _run(self) -> None:
        while not self._finished:
            self._wake.wait()
            self._wake.clear()
            self._flush_when_due()
            self._armed = False
            # A frame written just before: its writer saw the thread armed and did not wake
            # it (it reads _armed after setting _since; this reads _since after _armed).
            if self._since is not None:
                self._armed = True
                self._wake.set()
        self.flush()

    def _flush_when_due(self) -> None:
        while not self._finished:
            since = self._since
            if since is None:
                return
            left = since + FLUSH_LATEST - time.monotonic()
            if left <= 0:
                self.flush()
            else:
                time.sleep(left)
