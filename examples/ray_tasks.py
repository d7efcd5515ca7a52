"""Ray: every task and actor logs into one file, each record with its task and actor id.

``ray.init(runtime_env=mplog.ray.install())`` is the one line: Ray runs mplog's setup hook in
every worker process it starts, which then ships its records straight to the listener.
``%(ray_task_id)s`` / ``%(ray_actor_id)s`` are None in the driver (and the actor id outside
actors). The driver shuts Ray down right after its last ``ray.get``: every line is there all
the same. Needs ``pip install 'mplog[ray]'``.
Run: ``python examples/ray_tasks.py [OUTPUT_DIR]``.
"""

import logging
import os
import sys
import tempfile

import ray

import mplog
import mplog.ray

FORMAT = "%(ray_task_id)s %(ray_actor_id)s %(name)s %(levelname)s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


@ray.remote
def square(number: int) -> int:
    """A Ray task: its record carries its task id."""
    logging.getLogger("example.ray.task").info("squaring %d", number)
    return number * number


@ray.remote
class Tally:
    """A Ray actor: its records carry its actor id (and the id of each method call)."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, number: int) -> int:
        self.total += number
        logging.getLogger("example.ray.actor").info("total is now %d", self.total)
        return self.total


def main() -> None:
    path = os.path.join(output_dir(), "ray.log")
    log = logging.getLogger("example.ray")
    with mplog.setup_listener(path, fmt=FORMAT, level="INFO"):
        ray.init(num_cpus=2, include_dashboard=False, runtime_env=mplog.ray.install())
        squares = ray.get([square.remote(n) for n in range(4)])
        tally = Tally.remote()
        totals = ray.get([tally.add.remote(n) for n in squares])
        log.info("squares %s, running totals %s", squares, totals)
        ray.shutdown()
    with open(path, encoding="utf-8") as f:
        count = sum(1 for line in f if " example.ray" in line)
    print(f"wrote {path} ({count} example lines)")


if __name__ == "__main__":
    main()
