"""Decoding frames from the network, where nothing can be trusted: bounded work and memory.

``marshal`` is not meant for hostile data: five bytes announcing a tuple of 2**31 items make
``marshal.loads`` allocate 16 GiB before it finds the data missing, and references can make
cycles or a structure that grows exponentially when formatted. So a network body is first
scanned here, in Python, without building anything: only the types ``marshal.dumps`` writes
for plain values (None, bools, ints, floats, str, bytes, tuples, lists, dicts) are allowed,
every announced length must fit in the bytes that remain, nesting is limited, and a
reference may only name a string or a number (never a container: no cycles, no sharing).
Only then is it handed to ``marshal.loads``, whose work is then bounded by the body's size.
Records then get their standard fields checked, so a handler never sees a ``levelno`` that
is not a number. Nothing is ever unpickled or evaluated.
"""

from __future__ import annotations

import struct
from typing import Any

from mplog import _protocol

_INT32 = struct.Struct("<i")
_FLAG_REF = 0x80
_MAX_NESTING = 64
_DICT = -1  # in the scan's stack: an open dict, which ends with a "0" instead of a count
_FIXED = {ord("N"): 0, ord("F"): 0, ord("T"): 0, ord("i"): 4, ord("g"): 8}
_SIZED = frozenset(b"suatA")  # int32 length, then that many bytes
_SHORT = frozenset(b"zZ")  # one-byte length
_CONTAINERS = frozenset(b"([{)")
#: The largest hello a stranger may send (bytes): it is decoded before the key is checked.
MAX_HELLO = 4096
#: Standard record attributes that handlers and formatters use as numbers.
_NUMBERS = ("levelno", "lineno", "created", "msecs", "relativeCreated")


def check(body: bytes) -> None:
    """Raise ValueError unless ``body`` is one marshal value of plain data (see above)."""
    end = len(body)
    pos = 0
    refs: list[bool] = []  # per object flagged for reference: whether it is a container
    stack: list[int] = []  # items still to come in each open container (_DICT: a dict)
    while True:
        if pos >= end:
            raise ValueError("the body ends in the middle of a value")
        code, pos = body[pos], pos + 1
        flagged, code = code & _FLAG_REF, code & ~_FLAG_REF
        count = 0
        if code in _CONTAINERS:
            count, pos = _container(body, pos, code)
        elif code == ord("0") and stack and stack[-1] == _DICT:
            stack.pop()
        else:
            pos = _scalar(body, pos, code, refs, flagged=bool(flagged))
        if flagged:
            refs.append(code in _CONTAINERS)
        if count:
            if len(stack) >= _MAX_NESTING:
                raise ValueError(f"nesting deeper than {_MAX_NESTING}")
            stack.append(count)
            continue
        # One value is complete: count it in the containers it completes.
        while stack and stack[-1] != _DICT:
            stack[-1] -= 1
            if stack[-1]:
                break
            stack.pop()
        if not stack:
            if pos != end:  # bytes left over, or a value cut short
                raise ValueError(f"a value of {pos} bytes in a body of {end}")
            return


def _container(body: bytes, pos: int, code: int) -> tuple[int, int]:
    """The number of items of the container starting at ``pos`` (_DICT for a dict), and
    where they start; the count must fit in what remains (each item takes a byte at least)."""
    if code == ord("{"):
        return _DICT, pos
    if code == ord(")"):
        count, pos = (body[pos] if pos < len(body) else 0), pos + 1
    else:
        count, pos = _length(body, pos), pos + 4
    if count > len(body) - pos:
        raise ValueError(f"a container of {count} items in {len(body) - pos} bytes")
    return count, pos


def _scalar(body: bytes, pos: int, code: int, refs: list[bool], *, flagged: bool) -> int:
    """Where the scalar (or reference) of type ``code`` starting at ``pos`` ends."""
    if code in _FIXED:
        return pos + _FIXED[code]
    if code in _SHORT:
        return pos + 1 + (body[pos] if pos < len(body) else 0)
    if code == ord("r"):
        index = _length(body, pos)
        if flagged or index >= len(refs) or refs[index]:
            raise ValueError("a reference to something other than a string or number")
        return pos + 4
    if code == ord("l"):  # a long: a signed digit count, two bytes per digit
        if pos + 4 > len(body):
            raise ValueError("the body ends in the middle of a length")
        return pos + 4 + abs(int(_INT32.unpack_from(body, pos)[0])) * 2
    if code in _SIZED:
        return pos + 4 + _length(body, pos)
    raise ValueError(f"marshal type {chr(code)!r} is not plain data")


def _length(body: bytes, pos: int) -> int:
    """The non-negative int32 at ``pos``."""
    if pos + 4 > len(body):
        raise ValueError("the body ends in the middle of a length")
    (size,) = _INT32.unpack_from(body, pos)
    if size < 0:
        raise ValueError("a negative length")
    return int(size)


def check_size(body: bytes, limit: int | None) -> None:
    """Raise FrameTooLarge if ``body`` is over ``limit`` bytes."""
    if limit is not None and len(body) > limit:
        raise _protocol.FrameTooLarge(f"a frame of {len(body)} bytes, over the limit of {limit}")


def decode(body: bytes) -> dict[str, Any]:
    """Decode a body from the network: checked first, then a dict with string keys."""
    check(body)
    obj = _protocol.decode(body)
    if not all(type(key) is str for key in obj):
        raise ValueError("a body whose keys are not all strings")
    return obj


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
