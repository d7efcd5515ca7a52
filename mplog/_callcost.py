"""What one logging call costs in this process: through mplog, and through a plain
``logging.FileHandler``, measured side by side (the demo's last figure).

A few rounds of a few thousand ``logger.info`` calls each, the two kinds alternating so that
a slow spell of the machine hits both; per kind, the median over the rounds of the calling
thread's CPU time per call (``time.thread_time``: what the call costs the program, not how
busy the machine is). Both format the same line; mplog's lines go to a listener of their
own, whose file is then checked: every call's record must be there.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass

from mplog._settings import DEFAULT_FORMAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mplog._listener.supervisor import Mode

ROUNDS = 5
CALLS = 2000
_MESSAGE = "call %d of round %d payload=%s"
_PAYLOAD = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class CallCost:
    """Median CPU microseconds per logging call, per kind, and how they were measured."""

    mplog_us: float
    file_us: float
    rounds: int
    calls: int
    #: Whether mplog's file held every record of the measurement.
    complete: bool

    def text(self) -> str:
        """One line for the demo's summary."""
        ratio = self.mplog_us / self.file_us if self.file_us else 0.0
        missing = "" if self.complete else " (mplog's file missed records: see above)"
        return (
            f"one logging call in this process: mplog {self.mplog_us:.1f} µs, a plain "
            f"logging.FileHandler {self.file_us:.1f} µs ({ratio:.2f}x; CPU time, median of "
            f"{self.rounds} rounds of {self.calls:,} calls each){missing}"
        )


def _cpu_per_call(logger: logging.Logger, calls: int, round_number: int) -> float:
    info = logger.info
    start = time.thread_time()
    for index in range(calls):
        info(_MESSAGE, index, round_number, _PAYLOAD)
    return (time.thread_time() - start) / calls * 1e6


def _file_logger(path: str) -> logging.Logger:
    """A logger of its own with a plain FileHandler (not propagating to mplog's)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
    logger = logging.getLogger("demo.callcost.file")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def measure(
    directory: str, mode: Mode = "thread", rounds: int = ROUNDS, calls: int = CALLS
) -> CallCost:
    """Measure both kinds in this process, writing into two files in ``directory``."""
    import mplog  # the listener side: loaded only where the demo runs

    file_logger = _file_logger(os.path.join(directory, "filehandler.log"))
    mplog_path = os.path.join(directory, "mplog.log")
    mplog_logger = logging.getLogger("demo.callcost.mplog")  # to the root's ShippingHandler
    costs: dict[str, list[float]] = {"file": [], "mplog": []}
    try:
        with mplog.setup_listener(mplog_path, level="INFO", mode=mode):
            for number in range(rounds):
                costs["file"].append(_cpu_per_call(file_logger, calls, number))
                costs["mplog"].append(_cpu_per_call(mplog_logger, calls, number))
    finally:
        for handler in list(file_logger.handlers):
            file_logger.removeHandler(handler)
            handler.close()
    with open(mplog_path, encoding="utf-8") as file:
        found = sum(" demo.callcost.mplog INFO call " in line for line in file)
    return CallCost(
        statistics.median(costs["mplog"]),
        statistics.median(costs["file"]),
        rounds,
        calls,
        complete=found == rounds * calls,
    )
