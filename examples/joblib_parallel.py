"""joblib: every ``Parallel`` logs into the listener after one ``mplog.joblib.install()``.

joblib's loky backend keeps its workers alive between ``Parallel`` calls and starts new ones
when it likes (after an idle timeout, after a crash); without mplog they never see main's
logging setup (joblib #1017). After ``mplog.joblib.install()`` every worker loky or the
multiprocessing backend starts is configured, with no argument added to ``Parallel``.
Needs joblib (``pip install -e ".[joblib]"``).
Run: ``python examples/joblib_parallel.py [OUTPUT_DIR]``.
"""

import logging
import os
import sys
import tempfile

from joblib import Parallel, delayed, parallel_config

import mplog
import mplog.joblib


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def square(n: int) -> int:
    logging.getLogger("example.square").info("squaring %d", n)
    return n * n


def cube(n: int) -> int:
    logging.getLogger("example.cube").info("cubing %d", n)
    return n**3


def main() -> None:
    path = os.path.join(output_dir(), "joblib.log")
    with mplog.setup_listener(path, level="INFO"):
        mplog.joblib.install()  # once: every later Parallel's workers log into the listener
        squares = Parallel(n_jobs=2)(delayed(square)(n) for n in range(4))
        # The same loky workers again (reused): they still log.
        cubes = Parallel(n_jobs=2)(delayed(cube)(n) for n in range(4))
        with parallel_config(backend="multiprocessing"):
            again = Parallel(n_jobs=2)(delayed(square)(n) for n in range(4, 8))
        logging.getLogger("example.main").info("results: %s %s %s", squares, cubes, again)
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
