"""Importable task functions for the context and task-numbering tests."""

from __future__ import annotations

import asyncio
import logging
import threading

import mplog


def log_item(item: int, extra: int = 0) -> int:
    """Log one record naming the item, inside a request context."""
    with mplog.context(request_id=f"r{item}"):
        logging.getLogger("ctx").info("item %d %d", item, extra)
    return item


def threads_with_context(n: int) -> None:
    """Threads each set their own context; their records must not mix them up."""

    def run(i: int) -> None:
        with mplog.context(request_id=f"thread{i}"):
            for _ in range(20):
                logging.getLogger("ctx").info("from thread %d", i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def asyncio_with_context(n: int) -> None:
    """Asyncio tasks each set their own context."""

    async def run(i: int) -> None:
        with mplog.context(request_id=f"async{i}"):
            for _ in range(5):
                logging.getLogger("ctx").info("from task %d", i)
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(run(i) for i in range(n)))

    asyncio.run(main())


def wait_for_debug(timeout: float) -> float:
    """Log DEBUG ticks until the "sub" logger is enabled for DEBUG; return when it was seen."""
    import time

    log = logging.getLogger("sub.system")
    log.info("waiting for debug")  # the test waits for this before it changes the level
    deadline = time.time() + timeout
    while time.time() < deadline:
        log.debug("tick")
        if log.isEnabledFor(logging.DEBUG):
            log.info("debug enabled")
            return time.time()
        time.sleep(0.005)
    return -1.0
