"""Cookbook recipe "Adding contextual information to your logging output", from a process pool.

Three ways of adding fields to records, all used inside the pool's workers, and all arriving in
the file through ``%(...)s`` format fields next to mplog's own ``worker_index``, ``task_id``
and ``task_name``:

* a ``LoggerAdapter`` subclass that adds the connection id (``connid``) to every record;
* the cookbook's ``ContextFilter`` on the worker's logger, adding the client's ``user`` and
  ``ip`` (read from a ``contextvars`` variable the task sets, rather than chosen at random);
* ``mplog.context(request_id=...)`` around the task's work.

Run: ``python examples/contextual_adapters_filters.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import mplog

FORMAT = (
    "%(levelname)-7s worker=%(worker_index)s task=%(task_id)s/%(task_name)s "
    "request=%(request_id)s conn=%(connid)s user=%(user)s ip=%(ip)s %(name)s: %(message)s"
)
#: (request id, connection id, user, IP address) of each request the pool handles.
REQUESTS = [
    ("r-100", 7, "jim", "123.231.231.123"),
    ("r-101", 8, "fred", "127.0.0.1"),
    ("r-102", 9, "sheila", "192.168.0.1"),
    ("r-103", 8, "jim", "127.0.0.1"),
]
client: ContextVar[tuple[str, str]] = ContextVar("client", default=("-", "-"))


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


class ContextFilter(logging.Filter):
    """The cookbook's filter: injects the client's user and IP address into each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.user, record.ip = client.get()
        return True


class ConnectionAdapter(logging.LoggerAdapter):
    """Adds the adapter's fields (the connection id) to each record, keeping any ``extra=``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**kwargs.get("extra", {}), **(self.extra or {})}
        return msg, kwargs


def install_filter() -> None:
    """Pool initializer: runs in each worker, after mplog has configured its logging."""
    logging.getLogger("myapp.requests").addFilter(ContextFilter())


def handle(request_id: str, connid: int, user: str, ip: str) -> None:
    """Handle one request: two records, each carrying all three kinds of fields."""
    token = client.set((user, ip))
    try:
        with mplog.context(request_id=request_id):
            log = ConnectionAdapter(logging.getLogger("myapp.requests"), {"connid": connid})
            log.info("request received")
            log.warning("request for %s took %d ms", user, len(user) * 100)
    finally:
        client.reset(token)


def main() -> None:
    path = os.path.join(output_dir(), "requests.log")
    spawn = multiprocessing.get_context("spawn")
    with (
        mplog.setup_listener(path, level="INFO", fmt=FORMAT),  # mode="thread", the default
        mplog.ProcessPoolExecutor(2, mp_context=spawn, initializer=install_filter) as pool,
    ):
        list(pool.map(handle, *zip(*REQUESTS, strict=True)))
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
