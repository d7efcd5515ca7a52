"""Checking a marshal body from a peer that cannot be trusted, before decoding it.

``marshal`` is not meant for hostile data: five bytes announcing a tuple of 2**31 items make
``marshal.loads`` allocate 16 GiB before it finds the data missing, and references can make
cycles or a structure that grows exponentially when formatted. So a body is first scanned
here, in Python, without building anything: only the types ``marshal.dumps`` writes for
plain values (None, bools, ints, floats, str, bytes, tuples, lists, dicts) are allowed (no
code objects), every announced length must fit in the bytes that remain, nesting is
limited, and a reference may only name a string or a number (never a container: no cycles,
no sharing). Only then is it handed to ``marshal.loads``, whose work is then bounded by the
body's size. Used by the listener for every frame from the network
(``mplog._listener.untrusted``) and by a network sender for the listener's welcome.
"""

from __future__ import annotations

import struct

from mplog import _protocol
from mplog._lineplan import check_names

TYPE_CHECKING = False  # typing is not imported at run time: network senders load this
if TYPE_CHECKING:
    from typing import Any

_INT32 = struct.Struct("<i")
_FLAG_REF = 0x80
_MAX_NESTING = 64
_DICT = -1  # in the scan's stack: an open dict, which ends with a "0" instead of a count
_FIXED = {ord("N"): 0, ord("F"): 0, ord("T"): 0, ord("i"): 4, ord("g"): 8}
_SIZED = frozenset(b"suatA")  # int32 length, then that many bytes
_SHORT = frozenset(b"zZ")  # one-byte length
_CONTAINERS = frozenset(b"([{)")


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


def decode(body: bytes) -> dict[str, Any]:
    """Decode a body from the network: checked first, then a dict with string keys."""
    check(body)
    obj = _protocol.decode(body)
    if not all(type(key) is str for key in obj):
        raise ValueError("a body whose keys are not all strings")
    return obj


def welcome(body: bytes) -> tuple[tuple[str, str | None, str] | None, dict[str, Any] | None]:
    """The listener's welcome, as a network sender reads it: the ``(fmt, datefmt, style)`` of
    the single-format file, or the line plan's data (``mplog._lineplan.from_data``); both None
    for an empty welcome (a listener that wants records). ValueError for anything else."""
    if not body:
        return None, None
    data = decode(body)
    line_format, plan = data.get("line_format"), data.get("plan")
    if line_format is not None:
        if type(line_format) is not list or len(line_format) != 3:
            raise ValueError(f"a welcome with the line format {line_format!r}")
        fmt, datefmt, style = line_format
        if type(fmt) is not str or style not in ("%", "{", "$"):
            raise ValueError(f"a welcome with the line format {line_format!r}")
        check_names(fmt, style)
        if datefmt is not None and type(datefmt) is not str:
            raise ValueError(f"a welcome with the date format {datefmt!r}")
        return (fmt, datefmt, style), None
    if plan is not None and type(plan) is not dict:
        raise ValueError("a welcome whose plan is not a dict")
    return None, plan
