"""Cookbook recipe "Customizing LogRecord": a custom record factory in every pool worker.

Each worker installs the cookbook's factory with ``logging.setLogRecordFactory`` from the
pool's ``initializer`` (which mplog runs after its own). The factory adds the cookbook's
``custom_attribute``, the service name given as ``initargs`` and a per-process ``sequence``
number to every record the worker creates; the listener, in a process of its own
(``mode="process"``), writes them as JSON lines, where they arrive as typed fields.
Run: ``python examples/custom_record_factory.py [OUTPUT_DIR]``.
"""

import itertools
import json
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


def install_record_factory(service: str) -> None:
    """Pool initializer: wrap this worker's record factory, as the cookbook does."""
    old_factory = logging.getLogRecordFactory()
    sequence = itertools.count()

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)
        record.custom_attribute = 0xDECAFBAD
        record.service = service
        record.sequence = next(sequence)
        return record

    logging.setLogRecordFactory(record_factory)


def work(item: int) -> int:
    """Log two records about ``item``."""
    log = logging.getLogger("billing.invoices")
    log.info("invoice %d created", item)
    log.info("invoice %d sent", item)
    return item


def main() -> None:
    path = os.path.join(output_dir(), "records.jsonl")
    spawn = multiprocessing.get_context("spawn")
    with mplog.setup_listener(path, json=True, level="INFO", mode="process"):
        logging.getLogger("billing").info("main: no custom factory here")
        with mplog.Pool(
            2, initializer=install_record_factory, initargs=("billing",), context=spawn
        ) as pool:
            pool.map(work, range(4))
    with open(path, encoding="utf-8") as file:
        records = [json.loads(line) for line in file]
    print(f"wrote {path} ({len(records)} lines)")
    print(json.dumps(records[-1], indent=2))


if __name__ == "__main__":
    main()
