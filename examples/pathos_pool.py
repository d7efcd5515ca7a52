"""pathos: ``mplog.pathos.ProcessPool`` is pathos's process pool with every worker logging
into the listener.

pathos maps functions of several arguments, lambdas and closures (dill instead of pickle);
its workers are ``multiprocess`` processes that know nothing of main's logging setup.
``mplog.pathos.ProcessPool`` takes pathos's arguments and configures every worker first.
Needs pathos (``pip install -e ".[pathos]"``).
Run: ``python examples/pathos_pool.py [OUTPUT_DIR]``.
"""

import logging
import os
import sys
import tempfile

import multiprocess

import mplog
import mplog.pathos


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def main() -> None:
    path = os.path.join(output_dir(), "pathos.log")
    with mplog.setup_listener(path, level="INFO"):
        pool = mplog.pathos.ProcessPool(2, context=multiprocess.get_context("spawn"))
        log = logging.getLogger("example.power")
        # A lambda of two arguments: pathos ships it with dill.
        powers = pool.map(lambda b, e: log.info("%d ** %d", b, e) or b**e, [2, 3, 4], [3, 2, 1])
        pool.close()
        pool.join()
        pool.clear()
        logging.getLogger("example.main").info("powers: %s", powers)
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
