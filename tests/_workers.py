"""Importable functions that tests run in child processes (spawn and forkserver import them)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

import mplog
from mplog.handlers import JsonFormatter

#: Counts the "seq" records of this process, so tests can check per-process order (reset in
#: a forked child, which inherits its parent's count).
_pcount = itertools.count()
_pcount_pid = os.getpid()
#: Set by :func:`user_initializer` in the child it ran in.
INITIALIZED: list[Any] = []


def log_seq(tag: str, n: int, logger: str = "app", level: int = logging.INFO) -> int:
    """Log ``n`` records "seq <tag> <per-process count> <i>"; return this process's pid."""
    log = logging.getLogger(logger)
    for i in range(n):
        log.log(level, "seq %s %d %d", tag, _next_pcount(), i)
    return os.getpid()


def _next_pcount() -> int:
    global _pcount, _pcount_pid
    if _pcount_pid != os.getpid():
        _pcount, _pcount_pid = itertools.count(), os.getpid()
    return next(_pcount)


def task_seq(task: int, n: int) -> int:
    """A pool task: log ``n`` sequence records tagged with the task number."""
    return log_seq(f"t{task}", n)


def levels_probe(_: object = None) -> int:
    """Log records at levels main's config keeps and filters; return the pid."""
    logging.getLogger("noisy").info("noisy info: filtered")
    logging.getLogger("noisy").warning("noisy warning: kept")
    logging.getLogger("app").debug("app debug: filtered")
    logging.getLogger("app").info("app info: kept")
    logging.getLogger("verbose").debug("verbose debug: kept")
    logging.getLogger("verbose.child").debug("verbose.child debug: kept")
    return os.getpid()


def origin_probe(logger_name: str) -> dict[str, Any]:
    """Log from this function and from a named thread; return what the records must say."""
    log = logging.getLogger(logger_name)
    lineno = sys._getframe().f_lineno + 1
    log.warning("origin main-thread")
    thread_lines: list[int] = []

    def in_thread() -> None:
        thread_lines.append(sys._getframe().f_lineno + 1)
        log.error("origin other-thread")

    thread = threading.Thread(target=in_thread, name="probe-thread")
    thread.start()
    thread.join(30)
    return {
        "pid": os.getpid(),
        "processName": _process_name(),
        "lineno": lineno,
        "thread_lineno": thread_lines[0],
    }


def _process_name() -> str:
    for name in ("multiprocess", "multiprocessing"):
        module = sys.modules.get(name)
        if module is not None and module.current_process().name != "MainProcess":
            return str(module.current_process().name)
    return "MainProcess"


def log_then_exit(tag: str, n: int) -> None:
    """Log ``n`` records and leave at once through ``os._exit`` (no finalizers, no flush)."""
    log_seq(tag, n)
    os._exit(0)


def log_then_sigkill(tag: str, n: int) -> None:
    """Log ``n`` records and SIGKILL this process."""
    log_seq(tag, n)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(30)


def log_forever(tag: str, ready: Any) -> None:
    """Log sequence records with a 2 KiB payload until killed; set ``ready`` after the first."""
    log = logging.getLogger("victim")
    payload = "v" * 2048
    for i in itertools.count():
        log.info("seq %s %d %d %s", tag, _next_pcount(), i, payload)
        if i == 0:
            ready.set()


def threads_logging(nthreads: int, n: int) -> int:
    """Log ``n`` records "tseq <thread> <i>" from each of ``nthreads`` threads at once."""
    log = logging.getLogger("threads")
    start = threading.Barrier(nthreads)

    def run(t: int) -> None:
        start.wait(30)
        for i in range(n):
            log.info("tseq %d %d", t, i)

    threads = [threading.Thread(target=run, args=(t,), name=f"T{t}") for t in range(nthreads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    return os.getpid()


def nested_pool(kind: str, tasks: int, n: int) -> list[int]:
    """In a worker: start a spawn pool (no explicit listener) whose tasks log; return pids."""
    logging.getLogger("app").info("nested parent %d starts a %s", os.getpid(), kind)
    ctx = multiprocessing.get_context("spawn")
    if kind == "executor":
        with mplog.ProcessPoolExecutor(2, mp_context=ctx) as executor:
            futures = [executor.submit(task_seq, 100 + t, n) for t in range(tasks)]
            return [f.result(timeout=60) for f in futures]
    pool = mplog.Pool(2, context=ctx)
    try:
        return pool.starmap_async(task_seq, [(100 + t, n) for t in range(tasks)]).get(60)
    finally:
        pool.close()
        pool.join()


def user_initializer(tag: str, value: int) -> None:
    """A user pool initializer: logs (through mplog, already configured) and records a value."""
    root = logging.getLogger()
    kinds = ",".join(type(h).__name__ for h in root.handlers)
    logging.getLogger("init").warning("initializer %s %d handlers=%s", tag, value, kinds)
    INITIALIZED.append((tag, value))


def initialized(_: object = None) -> list[Any]:
    """What :func:`user_initializer` recorded in this worker."""
    return list(INITIALIZED)


def interpreter_task(task: int, n: int) -> tuple[int, int, str]:
    """A task for InterpreterPoolExecutor: log ``n`` sequence records tagged with the task
    number; return (pid, interpreter id, this interpreter's level of logger "app")."""
    log_seq(f"t{task}", n)
    import _interpreters  # 3.14+: this runs only in InterpreterPoolExecutor tests

    app_level = logging.getLevelName(logging.getLogger("app").getEffectiveLevel())
    return os.getpid(), int(_interpreters.get_current()[0]), app_level


def echo_call(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return the arguments as received (keywords may be named self, fn, func, target...)."""
    return args, kwargs


def put_call(queue: Any, /, *args: Any, **kwargs: Any) -> None:
    """Put the arguments as received into ``queue`` (a Process target's way to return)."""
    queue.put((args, kwargs))


def take_number(counter: Any, queue: Any) -> None:
    """Take a number from a worker counter (mplog._counter) and put it into ``queue``."""
    queue.put(counter.take())


def configure_and_log(worker_config: mplog.WorkerConfig, tag: str, n: int) -> int:
    """A bare child: configure logging by hand, then log a sequence."""
    mplog.configure_worker(worker_config)
    return log_seq(tag, n)


def sleep_then_log(tag: str, delay: float) -> int:
    """Sleep, then log one record (for a worker that outlives a killed sibling)."""
    time.sleep(delay)
    return log_seq(tag, 1)


# -- records that are hard to encode -----------------------------------------------------------


class BadStr:
    """An object whose __str__ raises (its __repr__ works)."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        return "<BadStr repr>"


class BadBoth:
    """An object whose __str__ and __repr__ both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class UnpicklableError(Exception):
    """An exception carrying a lock: pickle refuses it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


WEIRD_TEXT = {
    "newlines": "line one\nline two\r\nline three",
    "non_ascii": "h\u00e9llo \u2713 \u65e5\u672c \U0001f600",
    "surrogate": "bad \udcff byte",
    "nul": "nul \x00 inside",
}


def weird_records() -> int:
    """Log every kind of hard-to-encode record, each tagged with ``extra={"case": ...}``."""
    log = logging.getLogger("weird")
    log.info("lock arg %s", threading.Lock(), extra={"case": "lock_arg"})
    log.info("lambda arg %s", lambda: 1, extra={"case": "lambda_arg"})
    log.info("generator arg %r", (i for i in range(3)), extra={"case": "generator_arg"})
    log.info(
        "unpicklable extras",
        extra={
            "case": "extras",
            "a_lock": threading.Lock(),
            "a_lambda": lambda: 1,
            "a_gen": (i for i in range(3)),
        },
    )
    log.info("str raises %s", BadStr(), extra={"case": "bad_str"})
    log.info("both raise %s", BadBoth(), extra={"case": "bad_both"})
    log.info(BadBoth(), extra={"case": "bad_msg"})
    log.info("%d", "not a number", extra={"case": "bad_format"})
    for case, text in WEIRD_TEXT.items():
        log.info("%s", text, extra={"case": case})
    return os.getpid()


def exception_records() -> int:
    """Log two exceptions with tracebacks: an ordinary one and one pickle refuses."""
    log = logging.getLogger("exc")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("division failed", extra={"case": "zero"})
    try:
        raise UnpicklableError("locked inside")
    except UnpicklableError:
        log.exception("unpicklable failed", extra={"case": "unpicklable"})
    return os.getpid()


def huge_record(size: int) -> int:
    """Log one record of ``size`` characters."""
    body = "".join(chr(ord("a") + i % 26) for i in range(26)) * (size // 26 + 1)
    logging.getLogger("huge").info("%s", body[:size], extra={"case": "huge"})
    return os.getpid()


# -- listener-side helpers -------------------------------------------------------------------


def make_json_handlers(path: str) -> list[logging.Handler]:
    """A handler factory (use with functools.partial) writing mplog's JSON lines to ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    return [handler]


def make_file_handlers(path: str, fmt: str) -> list[logging.Handler]:
    """A handler factory (use with functools.partial) writing ``fmt`` lines to ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    return [handler]


def read_json_records(path: str) -> list[dict[str, Any]]:
    """Every record of a file written by :class:`JsonFormatter`."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# -- context and task numbering ---------------------------------------------------------------


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
