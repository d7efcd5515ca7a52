"""Cookbook recipe "Use of alternative formatting styles", from a process pool.

Two independent choices, as in the cookbook:

* the listener's *format* style: ``setup_listener(fmt=..., style="{")`` writes ``brace.log``
  with a thread listener, and ``style="$"`` writes ``dollar.log`` with a listener process;
* the *message* style in the workers: the cookbook's ``BraceMessage`` and ``DollarMessage``
  objects (``__`` and ``_``) and its ``StyleAdapter``, which makes ``{}`` the style of a
  logger's messages. The message objects are rendered in the worker, so what reaches the file
  is the finished text, whatever the listener's format style.

Run: ``python examples/format_styles.py [OUTPUT_DIR]``.
"""

import logging
import multiprocessing
import os
import sys
import tempfile
from string import Template
from typing import Any

import mplog

BRACE_FORMAT = "{asctime} {levelname:<8} {name} worker={worker_index} task={task_id} | {message}"
DOLLAR_FORMAT = "$asctime $levelname $name worker=$worker_index task=$task_id | $message"


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return sys.argv[1]
    return tempfile.mkdtemp(prefix="mplog-example-")


class BraceMessage:
    """The cookbook's ``{}``-style message: formatted only when the record is."""

    def __init__(self, fmt: str, /, *args: Any, **kwargs: Any) -> None:
        self.fmt = fmt
        self.args = args
        self.kwargs = kwargs

    def __str__(self) -> str:
        return self.fmt.format(*self.args, **self.kwargs)


class DollarMessage:
    """The cookbook's ``$``-style message."""

    def __init__(self, fmt: str, /, **kwargs: Any) -> None:
        self.fmt = fmt
        self.kwargs = kwargs

    def __str__(self) -> str:
        return Template(self.fmt).substitute(**self.kwargs)


__ = BraceMessage
_ = DollarMessage


class StyleAdapter(logging.LoggerAdapter):
    """The cookbook's adapter: ``log.info("{} {}", a, b)`` formats with ``str.format``."""

    def log(self, level: int, msg: Any, /, *args: Any, stacklevel: int = 1, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            message = BraceMessage(msg, *args)
            self.logger.log(level, message, **kwargs, stacklevel=stacklevel + 1)


def work(n: int) -> None:
    """Log one record in each message style: %, {} object, $ object and the StyleAdapter."""
    log = logging.getLogger("styles")
    log.info("percent: task %d of %s", n, "work")
    log.info(__("brace: task {0} of {name}, {point[x]:.2f}", n, name="work", point={"x": n / 4}))
    log.info(_("dollar: task $n of $name, costs $$$n", n=n, name="work"))
    StyleAdapter(logging.getLogger("styles.adapter")).warning("adapter: task {} of {!r}", n, "work")


def run_pool(spawn: Any) -> None:
    with mplog.ProcessPoolExecutor(2, mp_context=spawn) as pool:
        list(pool.map(work, range(3)))


def main() -> None:
    directory = output_dir()
    spawn = multiprocessing.get_context("spawn")
    brace = os.path.join(directory, "brace.log")
    with mplog.setup_listener(brace, level="INFO", fmt=BRACE_FORMAT, style="{"):
        run_pool(spawn)
    dollar = os.path.join(directory, "dollar.log")
    with mplog.setup_listener(dollar, level="INFO", fmt=DOLLAR_FORMAT, style="$", mode="process"):
        run_pool(spawn)
    for path in (brace, dollar):
        with open(path, encoding="utf-8") as file:
            print(f"wrote {path} ({len(file.readlines())} lines)")


if __name__ == "__main__":
    main()
