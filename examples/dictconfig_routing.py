"""Cookbook recipe: a ``dictConfig`` with per-logger routing, for every process of a pool.

The cookbook's configuration, applied in the listener: records of the ``foo`` logger (and
its children) go to ``foo.log`` only (``propagate: False``); everything else goes to
``app.log``, and its errors also to ``errors.log``. Workers log from six loggers at five levels.
Run: ``python examples/dictconfig_routing.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
from typing import Any

import mplog

LOGGERS = ["foo", "foo.bar", "foo.bar.baz", "spam", "spam.ham", "spam.ham.eggs"]
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
DETAILED = "%(asctime)s %(name)-15s %(levelname)-8s %(processName)-15s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def logging_config(directory: str) -> dict[str, Any]:
    """The dictConfig: three files, ``foo`` routed to its own and kept out of the others."""

    def file_handler(name: str, **extra: Any) -> dict[str, Any]:
        path = os.path.join(directory, name)
        return {"class": "logging.FileHandler", "filename": path, "mode": "w", **extra}

    return {
        "version": 1,
        "formatters": {"detailed": {"format": DETAILED}},
        "handlers": {
            "file": file_handler("app.log", formatter="detailed"),
            "foofile": file_handler("foo.log", formatter="detailed"),
            "errors": file_handler("errors.log", formatter="detailed", level="ERROR"),
        },
        "loggers": {"foo": {"handlers": ["foofile"], "propagate": False}},
        "root": {"handlers": ["file", "errors"], "level": "DEBUG"},
    }


def worker_task(task: int) -> None:
    """Log one record per logger and level: 30 records."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for level in LEVELS:
            logger.log(level, "task %d: message at %s", task, logging.getLevelName(level))


def main() -> None:
    directory = output_dir()
    with mplog.setup_listener(config=logging_config(directory)):
        logging.getLogger("spam").info("main: starting 3 tasks")
        spawn = multiprocessing.get_context("spawn")
        with mplog.ProcessPoolExecutor(2, mp_context=spawn) as pool:
            list(pool.map(worker_task, range(3)))
        logging.getLogger("foo").info("main: done")
    for name in ("app.log", "foo.log", "errors.log"):
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as file:
            print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
