"""Finishing rotated log files off the writer's path: compression codecs and one worker thread.

A rotation in the listener only renames the full file (a metadata operation, microseconds).
Compressing it, running a user's ``rotator`` and deleting old files happen here, on a single
daemon thread per handler fed by a bounded queue, so the one writer never stalls on them.

A compressed file appears under its final name only when complete: the codec writes to
``<final>.tmp``, which is fsynced and then renamed over. The uncompressed file is removed after
that rename, so a crash in between leaves the records twice (both files), never zero times.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

#: Arguments of a codec's ``open``: the raw output file, the original file's base name (gzip
#: stores it in its header) and its modification time.
Opener = Callable[[io.BufferedWriter, str, float], io.BufferedIOBase]
Job = Callable[[], object]

_COPY_CHUNK = 1 << 20
#: Suffix of a compressed file while it is being written.
TMP_SUFFIX = ".tmp"


class Codec(NamedTuple):
    """How to compress a rotated file: the suffix its compressed name gets, and a writer."""

    suffix: str
    open: Opener


def _gzip(raw: io.BufferedWriter, name: str, mtime: float) -> io.BufferedIOBase:
    # Level 6 (gzip's own default) is about twice as fast as Python's default of 9 on logs,
    # for a file a few percent larger.
    return gzip.GzipFile(name, "wb", compresslevel=6, fileobj=raw, mtime=int(mtime))


def _bz2(raw: io.BufferedWriter, name: str, mtime: float) -> io.BufferedIOBase:
    return bz2.BZ2File(raw, "wb")


def _lzma(raw: io.BufferedWriter, name: str, mtime: float) -> io.BufferedIOBase:
    return lzma.LZMAFile(raw, "wb", format=lzma.FORMAT_XZ)


CODECS: dict[str, Codec] = {
    "gzip": Codec(".gz", _gzip),
    "bz2": Codec(".bz2", _bz2),
    "lzma": Codec(".xz", _lzma),
}
#: Every suffix a compressed rotated file may have (retention recognises them all).
SUFFIXES = tuple(codec.suffix for codec in CODECS.values())


def to_codec(compress: str | Codec | None) -> Codec | None:
    """The codec for ``compress`` ("gzip", "bz2", "lzma" or a :class:`Codec`), or None."""
    if compress is None or isinstance(compress, Codec):
        return compress
    name = {"gz": "gzip", "xz": "lzma"}.get(compress, compress)
    if name not in CODECS:
        raise ValueError(f"compress must be one of {sorted(CODECS)} or None, got {compress!r}")
    return CODECS[name]


def compress_file(source: str, codec: Codec) -> str:
    """Compress ``source`` into ``source + codec.suffix``, then remove ``source``.

    The result keeps the source's modification time (the time of its last record), so age
    based retention sees the age of the records, not of the compression.
    """
    final = source + codec.suffix
    tmp = final + TMP_SUFFIX
    info = os.stat(source)
    try:
        with open(source, "rb") as src, open(tmp, "wb") as raw:
            with codec.open(raw, os.path.basename(source), info.st_mtime) as out:
                shutil.copyfileobj(src, out, _COPY_CHUNK)
            raw.flush()
            os.fsync(raw.fileno())
        os.utime(tmp, (info.st_atime, info.st_mtime))
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    os.remove(source)
    return final


class BackgroundJobs:
    """Run jobs in order on one daemon thread, started on the first job.

    The queue is bounded: when the thread is so far behind that it is full, the caller runs
    the job itself. That slows the writer, but only once the backlog of uncompressed files
    is already large; it never deadlocks on a stuck job and never grows without bound.
    """

    def __init__(self, name: str, maxsize: int = 64) -> None:
        self.name = name
        self.errors = 0
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False

    def submit(self, job: Job) -> None:
        """Queue ``job``; run it here if the worker is closed or hopelessly behind."""
        if self._closed or not self._started():
            self._run(job)
            return
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._run(job)

    def _started(self) -> bool:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child inherits the object but not the thread, and maybe a queue
                # whose lock was held at the fork: start over with fresh ones.
                self._queue, self._thread, self._pid = queue.Queue(self._maxsize), None, os.getpid()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            return True

    def close(self, timeout: float) -> bool:
        """Finish the queued jobs within ``timeout`` seconds; False if some are left."""
        self._closed = True
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            sys.stderr.write(
                f"mplog: {self.name}: rotated files still being finished after {timeout}s; "
                "they are left as they are (uncompressed files stay complete and readable)\n"
            )
            return False
        return True

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            job()
        except Exception as exc:  # one bad file must not stop the files after it
            self.errors += 1
            sys.stderr.write(f"mplog: {self.name}: {type(exc).__name__}: {exc}\n")
