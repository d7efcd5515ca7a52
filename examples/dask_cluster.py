"""Dask: every worker of a ``LocalCluster`` logs into one file, with each record's task key.

``mplog.dask.install(client)`` registers a worker plugin: the workers there now, and any that
join or restart later, ship their records straight to the listener (not through the
scheduler). ``%(dask_key)s`` is the key of the task that logged (None in main),
``%(dask_worker)s`` the worker's address. Needs ``pip install 'mplog[dask]'``.
Run: ``python examples/dask_cluster.py [OUTPUT_DIR]``.
"""

import logging
import os
import sys
import tempfile

from distributed import Client, LocalCluster

import mplog
import mplog.dask

FORMAT = "%(dask_worker)s %(dask_key)s %(processName)s %(name)s %(levelname)s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def square(number: int) -> int:
    """A Dask task: its record carries its key and its worker's address."""
    logging.getLogger("example.dask.task").info("squaring %d", number)
    return number * number


def main() -> None:
    path = os.path.join(output_dir(), "dask.log")
    log = logging.getLogger("example.dask")
    logging.getLogger("distributed").setLevel(logging.WARNING)  # Dask's own chatter
    with (
        mplog.setup_listener(path, fmt=FORMAT, level="INFO"),
        LocalCluster(n_workers=2, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        mplog.dask.install(client)  # the one line: every worker, now and later
        futures = client.map(square, range(6), key=[f"square-{n}" for n in range(6)])
        log.info("squares: %s", client.gather(futures))
    with open(path, encoding="utf-8") as f:
        count = sum(1 for _ in f)
    print(f"wrote {path} ({count} lines)")


if __name__ == "__main__":
    main()
