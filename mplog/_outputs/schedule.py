"""When a log file rotates and what is kept: sizes, clock-aligned periods, and the
:class:`Rotation` options that ``setup_listener`` and :class:`mplog.RotatingHandler` share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from mplog._outputs.compress import Codec, to_codec

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)
_DAY_UNITS = {"S": 1, "M": 60, "H": 3600}
_STAMPS = {"S": "%Y-%m-%d_%H-%M-%S", "M": "%Y-%m-%d_%H-%M", "H": "%Y-%m-%d_%H"}
_DAY_STAMP = "%Y-%m-%d"
SIZE_STAMP = _STAMPS["S"]


def parse_size(value: int | str) -> int:
    """Bytes from an int or a text like "100 MB", "10KiB", "1.5G" (K=1000, Ki=1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number, prefix, binary = match.groups()
        base = 1024 if binary else 1000
        size = int(float(number) * base ** " kmgt".index(prefix.lower() or " "))
    else:
        raise ValueError(
            "a rotation size (max_bytes=, or rotate= of setup_listener) must be a number of "
            f"bytes or a text like '10 MB', not {value!r}"
        )
    if size < 0:
        raise ValueError(f"a rotation size must not be negative, got {value!r}")
    return size


def check_when(when: str, interval: int) -> str:
    """``when`` normalised (upper case), after checking it and ``interval``."""
    upper = when.upper()
    valid = (*_DAY_UNITS, "D", "MIDNIGHT", *(f"W{d}" for d in range(7)))
    if upper not in valid:
        raise ValueError(f"when must be one of S, M, H, D, midnight, W0-W6; got {when!r}")
    if not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a positive int, got {interval!r}")
    return upper


def period_bounds(now: float, when: str, interval: int, utc: bool) -> tuple[float, float, str]:
    """The period containing ``now``: its start, its end (the next rollover), its stamp.

    Periods are aligned to the clock, not to when the handler started: hourly files turn
    over on the hour. S, M and H periods count from midnight (the last one of a day is short
    when the period does not divide a day); D counts days from the epoch; Wn starts on
    weekday n at midnight (0 is Monday). ``utc`` picks UTC or local time.
    """
    current = datetime.fromtimestamp(now, timezone.utc if utc else None)
    midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
    if when in _DAY_UNITS:
        period = _DAY_UNITS[when] * interval
        elapsed = int((current - midnight).total_seconds())
        start = midnight + timedelta(seconds=elapsed - elapsed % period)
        end = min(start + timedelta(seconds=period), midnight + timedelta(days=1))
        return start.timestamp(), end.timestamp(), start.strftime(_STAMPS[when])
    if when in ("D", "MIDNIGHT"):
        start = midnight - timedelta(days=midnight.toordinal() % interval)
        days = interval
    else:
        start = midnight - timedelta(days=(current.weekday() - int(when[1])) % 7)
        start -= timedelta(weeks=(start.toordinal() // 7) % interval)
        days = 7 * interval
    return start.timestamp(), (start + timedelta(days=days)).timestamp(), start.strftime(_DAY_STAMP)


@dataclass(frozen=True)
class Rotation:
    """When a file rotates and what is kept: the options of :class:`RotatingHandler`,
    declared and checked here only. Picklable, so it can travel to a listener process.

    ``max_bytes`` is an int or a text like "100 MB"; ``when``/``interval``/``utc`` rotate by
    time; ``keep`` rotated files at most (0 keeps none: each is deleted once rotated; unlike
    the stdlib's ``backupCount=0``, which never rotates) and/or those younger than
    ``keep_days`` (0: none); ``compress`` names a codec.
    """

    max_bytes: int | str = 0
    when: str | None = None
    interval: int = 1
    utc: bool = False
    keep: int | None = None
    keep_days: float | None = None
    compress: str | Codec | None = None

    def __post_init__(self) -> None:
        # Normalised in place, so that what was checked is what is used.
        object.__setattr__(self, "max_bytes", parse_size(self.max_bytes))
        if self.when is not None:
            object.__setattr__(self, "when", check_when(self.when, self.interval))
        if not isinstance(self.utc, bool):
            raise ValueError(f"utc must be True or False, got {self.utc!r}")
        _check_retention(self.keep, self.keep_days)
        object.__setattr__(self, "compress", to_codec(self.compress))

    @property
    def codec(self) -> Codec | None:
        """The compression codec of rotated files, or None."""
        return cast("Codec | None", self.compress)

    def handler_options(self) -> dict[str, Any]:
        """These options as :class:`RotatingHandler` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_retention(keep: int | None, keep_days: float | None) -> None:
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool)):
        raise ValueError(f"keep must be a count of files (an int, 0 or more), got {keep!r}")
    if keep is not None and keep < 0:
        raise ValueError(f"keep must be a count of files (0 or more), got {keep!r}")
    if keep_days is not None and keep_days < 0:
        raise ValueError(f"keep_days must not be negative, got {keep_days!r}")
