"""Cookbook recipe "Using logging in multiple modules", with a process pool.

The script, ``multimodule.auxiliary`` and ``multimodule.tasks`` each log under their own
``spam_application.*`` logger, in main and in the pool's workers; one listener writes all of
it into ``spam.log``. Run: ``python examples/multiple_modules.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile

from multimodule.auxiliary import Auxiliary, some_function
from multimodule.tasks import process_item

import mplog

logger = logging.getLogger("spam_application")


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def main_module_work() -> None:
    """The cookbook's main module: ten records from three loggers."""
    logger.info("creating an instance of auxiliary_module.Auxiliary")
    a = Auxiliary()
    logger.info("created an instance of auxiliary_module.Auxiliary")
    logger.info("calling auxiliary_module.Auxiliary.do_something")
    a.do_something()
    logger.info("finished auxiliary_module.Auxiliary.do_something")
    logger.info("calling auxiliary_module.some_function()")
    some_function()
    logger.info("done with auxiliary_module.some_function()")


def main() -> None:
    path = os.path.join(output_dir(), "spam.log")
    # As in the cookbook, the application's logger takes DEBUG; workers get the same level.
    logger.setLevel(logging.DEBUG)
    with mplog.setup_listener(path):
        main_module_work()
        spawn = multiprocessing.get_context("spawn")
        with mplog.ProcessPoolExecutor(2, mp_context=spawn) as pool:
            results = list(pool.map(process_item, range(4)))
        logger.info("pool results: %s", results)
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
