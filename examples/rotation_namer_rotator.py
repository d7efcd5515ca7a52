"""Cookbook recipe "Using a rotator and namer to customize log rotation processing", with a pool.

The cookbook's ``namer`` adds ".gz" to rotated names and its ``rotator`` gzips the rotated file.
Here every process of a pool logs into one listener, the only writer of ``rotated.log``, so the
file can rotate safely; :class:`mplog.handlers.RotatingHandler` runs the rotator in the
background, so gzipping a full file never holds up the records behind it.
Run: ``python examples/rotation_namer_rotator.py [OUTPUT_DIR]``.
"""

import gzip
import logging
import os
import shutil
import sys
import tempfile

import mplog
from mplog.handlers import RotatingHandler

TASKS = 4
MESSAGES = 250


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def namer(name: str) -> str:
    """The cookbook's namer: rotated files are gzipped, so they get ".gz"."""
    return name + ".gz"


def rotator(source: str, dest: str) -> None:
    """The cookbook's rotator: gzip ``source`` into ``dest``, then remove ``source``."""
    with open(source, "rb") as f_in, gzip.open(dest, "wb") as f_out:
        shutil.copyfileobj(f_in, f_out)
    os.remove(source)


def work(task: int) -> None:
    """The cookbook's loop of numbered messages, one share per task."""
    root = logging.getLogger()
    for i in range(MESSAGES):
        root.info(f"Message no. {task * MESSAGES + i + 1}")


def main() -> None:
    directory = output_dir()
    # The cookbook's handler: 128-byte files, five kept (RotatingHandler's keep=5 is the
    # stdlib's backupCount=5).
    rh = RotatingHandler(os.path.join(directory, "rotated.log"), max_bytes=128, keep=5)
    rh.rotator = rotator
    rh.namer = namer
    rh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    with mplog.setup_listener(handlers=[rh], level="INFO"), mplog.ProcessPoolExecutor(2) as pool:
        list(pool.map(work, range(TASKS)))
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as file:
            lines = file.read().splitlines()
        print(f"wrote {path} ({len(lines)} lines)")


if __name__ == "__main__":
    main()
