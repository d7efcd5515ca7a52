"""Cookbook recipes "Logging from multiple threads" and "... from multiple processes", together.

Main runs two threads; two ``mplog.Process`` children and the tasks of an ``mplog.Pool`` each
run two threads too. Every thread logs five numbered records; one listener writes them all
into ``threads.log``, with the process and thread names.
Run: ``python examples/threads_and_processes.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
import threading

import mplog

FORMAT = "%(processName)-18s %(threadName)-12s %(name)-8s %(levelname)-7s %(message)s"
RECORDS_PER_THREAD = 5


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


def chatter(label: str) -> None:
    """What each thread does: log a few numbered records."""
    logger = logging.getLogger("chatter")
    for n in range(RECORDS_PER_THREAD):
        logger.debug("Hi from %s, record %d", label, n)


def run_threads(prefix: str, count: int = 2) -> None:
    """Start ``count`` threads named ``{prefix}-T{i}`` running :func:`chatter`; wait for them."""
    threads = [
        threading.Thread(target=chatter, args=(f"{prefix}-T{i}",), name=f"{prefix}-T{i}")
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def pool_task(task: int) -> int:
    """A pool task that runs two logging threads of its own."""
    run_threads(f"task{task}")
    return task


def main() -> None:
    path = os.path.join(output_dir(), "threads.log")
    spawn = multiprocessing.get_context("spawn")
    with mplog.setup_listener(path, fmt=FORMAT, level="DEBUG"):
        logging.getLogger("main").info("starting threads, processes and a pool")
        children = [
            mplog.Process(target=run_threads, args=(f"child{i}",), context=spawn) for i in range(2)
        ]
        for child in children:
            child.start()
        run_threads("main")
        with mplog.Pool(2, context=spawn) as pool:
            pool.map(pool_task, range(4))
            # close() and join() let the workers exit cleanly; leaving the block alone would
            # terminate() them, and the listener would report them as ended abruptly.
            pool.close()
            pool.join()
        for child in children:
            child.join()
        logging.getLogger("main").info("all done")
    with open(path, encoding="utf-8") as file:
        print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
