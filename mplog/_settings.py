"""What crosses from main to every logging process, declared and checked here once.

:class:`Shipping` is how each process ships (overflow policy, wait bound, buffer, live
levels); :class:`WorkerConfig` is everything a child needs to log into a listener (where, the
token, main's levels, the shipping policy, the line format). ``setup_listener`` takes the
shipping options as keywords and builds one :class:`Shipping`; nothing re-declares them.
Both sides of the pipe import this module, so it imports neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import cast

#: The format of ``setup_listener(filename)`` and of records a process writes to stderr
#: when the listener cannot take them.
DEFAULT_FORMAT = "%(asctime)s %(processName)s[%(process)d] %(name)s %(levelname)s %(message)s"
#: The record attribute carrying a structured exception summary (for JSON and trackers).
EXC_FIELD = "mplog_exc"
#: The fields mplog stamps on every record besides the user's own ``context()`` fields.
POOL_FIELDS = ("worker_index", "task_id", "task_name")
#: Attributes a LogRecord has of its own (or gets from a formatter, or from mplog): anything
#: else on a record is an ``extra=`` or context field.
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    EXC_FIELD,
}

Address = str | tuple[str, int]
LineFormat = tuple[str, str | None, str]


def to_level(level: int | str) -> int:
    """A level number from a number or a name ("INFO", "debug"); a clear error otherwise."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"unknown logging level {level!r}: use a number or one of DEBUG, INFO, WARNING, "
        "ERROR, CRITICAL"
    )


@dataclass(frozen=True)
class Shipping:
    """How every process ships its records to the listener.

    When the listener falls behind and a process's stream is full, ``on_full="block"`` waits
    (lossless), ``on_full="drop"`` drops and counts records below ``keep_level`` (all records
    when it is None) and blocks for the rest. A wait longer than ``block_timeout`` seconds
    means the listener is stuck: records then go to stderr. ``buffer_bytes`` sets the
    stream's kernel buffer (None: 1 MiB for a pipe, the system default for TCP).
    ``live_levels`` lets ``Listener.set_level`` reach running processes, with one small
    reader thread per process.
    """

    on_full: str = "block"
    keep_level: int | str | None = None
    block_timeout: float | None = 60.0
    buffer_bytes: int | None = None
    live_levels: bool = True

    def __post_init__(self) -> None:
        if self.on_full not in ("block", "drop"):
            raise ValueError(f"on_full must be 'block' or 'drop', got {self.on_full!r}")
        if self.keep_level is not None:
            object.__setattr__(self, "keep_level", to_level(self.keep_level))
        if self.block_timeout is not None and not self.block_timeout > 0:
            raise ValueError(f"block_timeout must be positive or None, got {self.block_timeout}")
        if self.buffer_bytes is not None and (
            not isinstance(self.buffer_bytes, int) or self.buffer_bytes <= 0
        ):
            raise ValueError(
                f"buffer_bytes must be a positive number of bytes or None, got "
                f"{self.buffer_bytes!r}"
            )

    @property
    def drop_below(self) -> int:
        """Records below this level may be dropped when the stream is full (-1: none)."""
        if self.on_full == "block":
            return -1
        return 2**31 if self.keep_level is None else cast("int", self.keep_level)


@dataclass(frozen=True)
class WorkerConfig:
    """What a child needs to log into a listener: small, picklable, safe to send anywhere.

    Get it from :attr:`mplog.Listener.worker_config` and pass it to
    :func:`mplog.configure_worker` in the child. It carries the listener's address and token,
    main's logger levels, the :class:`Shipping` policy and, when the listener writes finished
    lines, the ``(fmt, datefmt, style)`` each process formats its own records with.
    """

    address: Address
    token: str
    root_level: int = logging.WARNING
    levels: tuple[tuple[str, int], ...] = ()
    shipping: Shipping = field(default_factory=Shipping)
    line_format: LineFormat | None = None

    def with_levels(self, root_level: int, levels: tuple[tuple[str, int], ...]) -> WorkerConfig:
        """A copy carrying these logger levels."""
        return replace(self, root_level=root_level, levels=levels)
