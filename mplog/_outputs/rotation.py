"""Rotating a log file inside the single writer: by size and/or time, with retention.

Only the listener writes the file, so rotation needs no lock between processes: the handler
closes the file, renames it, and opens a fresh one, with no other writer to race. Rotated files
are named after a timestamp (``app.log.2024-05-01``, or ``app.log.2024-05-01_12-00-00`` for
size rotation, ``.1``, ``.2`` ... added when a name is taken) and are never renamed again, so
finishing them (compression, a user ``rotator``) can run in the background while the next ones
are written, and log shippers that follow files by name never see them move.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import logging.handlers
import os
import re
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, cast

from mplog._outputs.compress import SUFFIXES, BackgroundJobs, Codec, compress_file
from mplog._outputs.schedule import SIZE_STAMP, Rotation, period_bounds

#: A rotated name's timestamp, in any of the formats above.
_STAMP_RE = r"(?P<stamp>\d{4}-\d\d-\d\d(?:_\d\d(?:-\d\d){0,2})?)"
#: Stands for the timestamp when asking the namer what rotated names look like.
_SENTINEL = "0000-00-00_00-00-00"
#: A file handed to a custom rotator is first renamed to ``<final name> + PENDING``.
PENDING = ".rotating"


class RotatingHandler(logging.handlers.BaseRotatingHandler):
    """A file handler that rotates by size and/or time, keeps what you ask, compresses.

    :param filename: the live log file.
    :param max_bytes: rotate before a record would make the file larger than this (an int or
        a text like "100 MB", "10KiB"); 0 (default) never rotates by size. A single record
        larger than the limit is written whole into a file of its own.
    :param when: rotate by time: "S", "M", "H", "D", "midnight" or "W0"-"W6" (weekday, 0 is
        Monday), every ``interval`` of them, aligned to the clock; ``utc`` picks UTC
        instead of local time for the boundaries and the names.
    :param keep: keep at most this many rotated files (None: all).
    :param keep_days: delete rotated files whose last record is older than this (None: never).
    :param compress: "gzip", "bz2" or "lzma" (or a :class:`mplog.handlers.Codec`): compress
        rotated files in the background, adding ".gz", ".bz2" or ".xz".
    :param clock: the time source (seconds since the epoch); tests inject a fake one.
    :param close_timeout: how long :meth:`close` waits for rotated files still being finished.

    ``namer`` and ``rotator`` work as on the stdlib's handlers: the namer maps the default
    rotated name (``<filename>.<stamp>``) to the one used; a rotator gets ``(source, dest)``
    and runs in the background, with ``source`` being the rotated file renamed to
    ``dest + ".rotating"``; a ``compress`` codec then applies to ``dest`` if the rotator left
    a file there. Retention finds rotated files through the namer, so a namer must keep the
    timestamp in the name. Everything written goes through :meth:`emit` or
    :meth:`append_lines`, which keep count of the file's size.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        max_bytes: int | str = 0,
        when: str | None = None,
        interval: int = 1,
        utc: bool = False,
        keep: int | None = None,
        keep_days: float | None = None,
        compress: str | Codec | None = None,
        mode: str = "a",
        encoding: str = "utf-8",
        errors: str = "backslashreplace",
        delay: bool = False,
        clock: Callable[[], float] = time.time,
        close_timeout: float = 30.0,
    ) -> None:
        rotation = Rotation(max_bytes, when, interval, utc, keep, keep_days, compress)
        self.max_bytes, self.when = cast("int", rotation.max_bytes), rotation.when
        self.interval, self.utc = interval, utc
        self.keep, self.keep_days = keep, keep_days
        self.codec = rotation.codec
        self.close_timeout = close_timeout
        self._clock = clock
        self._codec_name = (encoding, errors)
        self._size = 0
        self._regular = True
        self._last_name: tuple[str, int] = ("", 0)
        super().__init__(os.fspath(filename), mode, encoding, delay, errors)
        self._jobs = BackgroundJobs(f"mplog rotation of {self.baseFilename}")
        if self.stream is not None:
            self._measure(self.stream)
        self._set_period(self._period_anchor())

    # -- writing -------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        """Format ``record`` and append it, rotating first if it is time or it would not fit."""
        try:
            self._append((self._encoded(record),))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def append_lines(self, lines: Iterable[bytes | memoryview]) -> None:
        """Append finished records, each a complete ``bytes`` (newline included), in one flush.

        This is the listener's fast path for lines formatted by the processes that logged
        them: it rotates exactly as :meth:`emit` does, between records, never inside one.
        Errors propagate to the caller.
        """
        self.acquire()
        try:
            self._append(lines)
        finally:
            self.release()

    def _append(self, chunks: Iterable[bytes | memoryview]) -> None:
        stream = self._live_stream()
        if stream is not None and self.when is not None and self._clock() >= self._period_end:
            self.doRollover()
            stream = self._live_stream()
        if stream is None:
            return
        stream.flush()  # text someone wrote through the stream goes first
        chunks = chunks if isinstance(chunks, (list, tuple)) else list(chunks)
        total = sum(map(len, chunks))
        if not self.max_bytes or self._size + total <= self.max_bytes or not self._regular:
            cast(io.BufferedWriter, stream.buffer).write(b"".join(chunks))  # no rotation due
            self._size += total
            stream.flush()
            return
        for chunk in chunks:
            size = len(chunk)
            if 0 < self.max_bytes < self._size + size and self._size and self._regular:
                stream.flush()
                self.doRollover()
                stream = self._live_stream()
                if stream is None:
                    return
            cast(io.BufferedWriter, stream.buffer).write(chunk)
            self._size += size
        stream.flush()

    def _live_stream(self) -> io.TextIOWrapper | None:
        """The open file, opened now if ``delay`` (None once a "w" handler is closed)."""
        if self.stream is None:
            if self.mode == "w" and getattr(self, "_closed", False):
                return None  # as FileHandler: a closed "w" handler must not truncate again
            self._reopen()
        return self.stream

    def _encoded(self, record: logging.LogRecord) -> bytes:
        return (self.format(record) + self.terminator).encode(*self._codec_name)

    def _reopen(self) -> None:
        self.stream = stream = self._open()
        self._measure(stream)

    def _measure(self, stream: io.TextIOWrapper) -> None:
        info = os.fstat(stream.fileno())
        self._size = info.st_size
        # Like the stdlib: /dev/null, a pipe or a terminal is written to but never rotated.
        self._regular = stat.S_ISREG(info.st_mode)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        """Whether writing ``record`` now would first rotate the file (stdlib API)."""
        if self.when is not None and self._clock() >= self._period_end:
            return True
        if not self.max_bytes or not self._size or not self._regular:
            return False
        return self._size + len(self._encoded(record)) > self.max_bytes

    # -- rotating ------------------------------------------------------------------------

    def doRollover(self) -> None:
        """Rename the full file (fast) and queue its finishing; open a new one."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        now = self._clock()
        if self._size and self._regular and os.path.exists(self.baseFilename):
            self._rotate_out(self._rotated_name(now))
        if self.when is not None and now >= self._period_end:
            self._set_period(now)
        self._size = 0
        if not self.delay:
            self._reopen()

    def _rotate_out(self, dest: str) -> None:
        custom = self.rotator is not None or type(self).rotate is not _STDLIB_ROTATE
        source = dest + PENDING if custom else dest
        os.rename(self.baseFilename, source)
        if custom or self.codec is not None or self.keep is not None or self.keep_days is not None:
            self._jobs.submit(functools.partial(self._finish, source, dest))

    def _finish(self, source: str, dest: str) -> None:
        """In the background: run the rotator, compress, apply retention."""
        if source != dest:
            self.rotate(source, dest)
        if self.codec is not None and os.path.exists(dest):
            compress_file(dest, self.codec)
        self.apply_retention()

    def _rotated_name(self, now: float) -> str:
        stamp = self._period_stamp if self.when is not None else _format(now, self.utc)
        last_stamp, last_n = self._last_name
        n = last_n + 1 if stamp == last_stamp else 0
        suffix = "" if self.codec is None else self.codec.suffix
        while True:
            default = f"{self.baseFilename}.{stamp}" + (f".{n}" if n else "")
            dest = self.rotation_filename(default)
            if not any(os.path.lexists(dest + end) for end in ("", suffix, PENDING)):
                self._last_name = (stamp, n)
                return dest
            n += 1

    def _period_anchor(self) -> float:
        # A file left by an earlier run belongs to the period of its last write: a restart
        # the next day rotates yesterday's file on the first record, under yesterday's name.
        try:
            return min(self._clock(), os.stat(self.baseFilename).st_mtime)
        except OSError:
            return self._clock()

    def _set_period(self, now: float) -> None:
        if self.when is None:
            self._period_end, self._period_stamp = float("inf"), ""
            return
        _, self._period_end, self._period_stamp = period_bounds(
            now, self.when, self.interval, self.utc
        )

    # -- retention -----------------------------------------------------------------------

    def rotated_files(self) -> list[list[str]]:
        """Rotated files on disk, oldest first; each entry holds the paths of one rotation
        (normally one; two while it is being compressed)."""
        sample = self.rotation_filename(f"{self.baseFilename}.{_SENTINEL}")
        directory, name = os.path.split(sample)
        if _SENTINEL not in name:
            return []  # a namer that drops the timestamp: retention cannot tell files apart
        prefix, _, suffix = name.partition(_SENTINEL)
        pattern = re.compile(
            re.escape(prefix)
            + _STAMP_RE
            + r"(?:\.(?P<n>\d+))?"
            + re.escape(suffix)
            + "(?:"
            + "|".join(re.escape(s) for s in SUFFIXES)
            + ")?$"
        )
        groups: dict[tuple[str, int], list[str]] = defaultdict(list)
        for entry in os.scandir(directory or "."):
            match = pattern.match(entry.name)
            if match and entry.is_file():
                groups[match["stamp"], int(match["n"] or 0)].append(entry.path)
        return [groups[key] for key in sorted(groups)]

    def apply_retention(self) -> list[str]:
        """Delete rotated files beyond ``keep`` and older than ``keep_days``; return them."""
        rotations = self.rotated_files()
        doomed: list[str] = []
        if self.keep is not None and len(rotations) > self.keep:
            cut = len(rotations) - self.keep
            doomed += [path for paths in rotations[:cut] for path in paths]
            rotations = rotations[cut:]
        if self.keep_days is not None:
            cutoff = self._clock() - self.keep_days * 86400
            for paths in rotations:
                if max(_mtime(path) for path in paths) < cutoff:
                    doomed += paths
        for path in doomed:
            _remove_quietly(path)
        return doomed

    def close(self) -> None:
        """Close the file, then wait (up to ``close_timeout``) for rotated files in flight."""
        super().close()
        self._jobs.close(self.close_timeout)

    @property
    def background_errors(self) -> int:
        """How many background jobs (rotator, compression, retention) failed."""
        return self._jobs.errors

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.baseFilename} ({logging.getLevelName(self.level)})>"


_STDLIB_ROTATE: Any = logging.handlers.BaseRotatingHandler.rotate


def _format(now: float, utc: bool) -> str:
    return time.strftime(SIZE_STAMP, time.gmtime(now) if utc else time.localtime(now))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return float("inf")  # gone already: nothing to delete


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # another cleanup got there first
        os.remove(path)
