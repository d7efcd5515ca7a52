"""Decoding frames from the network, where nothing can be trusted: bounded work and memory.

A network body is first checked by ``mplog._plaindata`` (plain data only, every length
within the body, bounded nesting, no shared containers) and only then decoded. Records then
get their standard fields checked, so a handler never sees a ``levelno`` that is not a
number. Nothing is ever unpickled or evaluated.
"""

from __future__ import annotations

from typing import Any

from mplog import _protocol
from mplog._plaindata import check, decode

__all__ = ["MAX_HELLO", "check", "check_size", "decode", "record_fields"]

#: The largest hello a stranger may send (bytes): it is decoded before the key is checked.
MAX_HELLO = 4096
#: Standard record attributes that handlers and formatters use as numbers.
_NUMBERS = ("levelno", "lineno", "created", "msecs", "relativeCreated")


def check_size(body: bytes, limit: int | None) -> None:
    """Raise FrameTooLarge if ``body`` is over ``limit`` bytes."""
    if limit is not None and len(body) > limit:
        raise _protocol.FrameTooLarge(f"a frame of {len(body)} bytes, over the limit of {limit}")


def record_fields(body: bytes) -> dict[str, Any]:
    """A record body from the network, with the standard fields a handler relies on."""
    fields = decode(body)
    for name in _NUMBERS:
        if type(fields.get(name, 0)) not in (int, float):
            raise ValueError(f"a record whose {name} is not a number")
    if type(fields.get("msg", "")) is not str:
        raise ValueError("a record whose msg is not text")
    if fields.get("args") is not None or fields.get("exc_info") is not None:
        raise ValueError("a record with args or exc_info (a sender renders them to text)")
    for name in ("levelname", "name"):
        if type(fields.get(name, "")) is not str:
            raise ValueError(f"a record whose {name} is not text")
    return fields
