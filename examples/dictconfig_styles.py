"""Cookbook recipes "Configuring filters with dictConfig" and formatter styles, in a dictConfig.

One ``dictConfig`` dict, applied in a listener process of its own (``mode="process"``):

* ``detailed.log`` uses a ``$``-style formatter (``"style": "$"``) naming mplog's
  ``worker_index`` and ``task_id`` fields;
* ``brief.log`` uses a ``{``-style formatter (``"style": "{"``) with format specs, and the
  cookbook's ``MyFilter``, built by its ``"()"`` factory with ``param``: it drops records whose
  message contains ``noshow`` and prefixes the others with ``changed:``. The filter is
  created and runs in the listener process.

Run: ``python examples/dictconfig_styles.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
from typing import Any

import mplog


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


class MyFilter(logging.Filter):
    """The cookbook's filter: drop messages containing ``param``, mark the others."""

    def __init__(self, param: str | None = None) -> None:
        super().__init__()
        self.param = param

    def filter(self, record: logging.LogRecord) -> bool:
        allow = self.param is None or self.param not in record.msg
        if allow:
            record.msg = "changed: " + record.msg
        return allow


def logging_config(directory: str) -> dict[str, Any]:
    """Two files, one formatter style each; the brief one filtered by MyFilter."""

    def file_handler(name: str, **extra: Any) -> dict[str, Any]:
        path = os.path.join(directory, name)
        return {"class": "logging.FileHandler", "filename": path, "mode": "w", **extra}

    detailed = "$asctime $processName worker=$worker_index task=$task_id $levelname $message"
    return {
        "version": 1,
        "formatters": {
            "detailed": {"format": detailed, "style": "$"},
            "brief": {"format": "{levelname:>8} | {name:<6} | {message}", "style": "{"},
        },
        "filters": {"myfilter": {"()": MyFilter, "param": "noshow"}},
        "handlers": {
            "detailed": file_handler("detailed.log", formatter="detailed"),
            "brief": file_handler("brief.log", formatter="brief", filters=["myfilter"]),
        },
        # "detailed" first: MyFilter changes the record's message for the handlers after it.
        "root": {"level": "DEBUG", "handlers": ["detailed", "brief"]},
    }


def work(n: int) -> None:
    """The cookbook's two records, numbered, and one more."""
    logging.debug("hello %d", n)
    logging.debug("hello %d - noshow", n)
    logging.getLogger("app").info("task %d done", n)


def main() -> None:
    directory = output_dir()
    spawn = multiprocessing.get_context("spawn")
    with (
        mplog.setup_listener(config=logging_config(directory), mode="process"),
        mplog.ProcessPoolExecutor(2, mp_context=spawn) as pool,
    ):
        list(pool.map(work, range(3)))
    for name in ("detailed.log", "brief.log"):
        path = os.path.join(directory, name)
        with open(path, encoding="utf-8") as file:
            print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
