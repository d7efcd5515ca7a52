"""Configure a child by hand: a plain ``multiprocessing`` process calls ``configure_worker``.

For processes mplog does not start (a plain ``multiprocessing.Process``, a framework's
workers): pass ``listener.worker_config`` to the child and call
``mplog.configure_worker(config)`` there first. It carries main's logger levels, so
``example.noisy``, set to ERROR in main, drops its INFO records in the children too.
Run: ``python examples/configure_by_hand.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile

import mplog


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def child(config: mplog.WorkerConfig, number: int) -> None:
    """A child's entry point: configure logging first, then log."""
    mplog.configure_worker(config)
    logger = logging.getLogger("example.child")
    logger.info("child %d: configured by hand, pid %d", number, os.getpid())
    logger.warning("child %d: a warning", number)
    noisy = logging.getLogger("example.noisy")
    noisy.info("child %d: filtered out, as in main", number)
    noisy.error("child %d: noisy's errors still arrive", number)


def main() -> None:
    path = os.path.join(output_dir(), "by_hand.log")
    with mplog.setup_listener(path, level="INFO") as listener:
        logging.getLogger("example.noisy").setLevel(logging.ERROR)
        spawn = multiprocessing.get_context("spawn")
        # Read worker_config after setting levels: it carries main's levels as they are now.
        config = listener.worker_config
        children = [spawn.Process(target=child, args=(config, n)) for n in range(3)]
        for process in children:
            process.start()
        for process in children:
            process.join()
        logging.getLogger("example.main").info(
            "children exited with %s", [p.exitcode for p in children]
        )
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
