"""Cookbook recipe "Logging to multiple destinations", from a process pool.

Everything from DEBUG up goes to ``myapp.log`` in a detailed format; WARNING and above also go
to the console (stderr) in a short one. The listener runs in its own process
(``mode="process"``), so its handlers are built there by a factory function.
Run: ``python examples/console_and_file.py [OUTPUT_DIR]``.
"""

import functools
import logging
import multiprocessing
import os
import sys
import tempfile

import mplog

DETAILED = "%(asctime)s %(processName)-15s %(name)-12s %(levelname)-8s %(message)s"
SHORT = "%(name)-12s: %(levelname)-8s %(message)s"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def make_handlers(path: str) -> list[logging.Handler]:
    """Build the handlers; this runs in the listener process."""
    file = logging.FileHandler(path, mode="w", encoding="utf-8")
    file.setLevel(logging.DEBUG)
    file.setFormatter(logging.Formatter(DETAILED, datefmt="%m-%d %H:%M"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter(SHORT))
    return [file, console]


def area_work(task: int) -> None:
    """The cookbook's four records, one per level, from two areas of the application."""
    logger1 = logging.getLogger("myapp.area1")
    logger2 = logging.getLogger("myapp.area2")
    logger1.debug("Quick zephyrs blow, vexing daft Jim. (task %d)", task)
    logger1.info("How quickly daft jumping zebras vex. (task %d)", task)
    logger2.warning("Jail zesty vixen who grabbed pay from quack. (task %d)", task)
    logger2.error("The five boxing wizards jump quickly. (task %d)", task)


def main() -> None:
    path = os.path.join(output_dir(), "myapp.log")
    # A factory (picklable: a module-level function, here with its argument bound) because
    # handler objects cannot be sent to the listener process.
    handlers = functools.partial(make_handlers, path)
    with mplog.setup_listener(handlers=handlers, level="DEBUG", mode="process"):
        logging.info("Jackdaws love my big sphinx of quartz.")
        spawn = multiprocessing.get_context("spawn")
        with mplog.ProcessPoolExecutor(2, mp_context=spawn) as pool:
            list(pool.map(area_work, range(3)))
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines; WARNING and up also on stderr)")


if __name__ == "__main__":
    main()
