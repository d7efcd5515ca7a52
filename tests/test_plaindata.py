"""Checking plain data from a peer that cannot be trusted (``mplog._plaindata``): what the
listener's decoder and a network sender's reading of the welcome share. The decoder's fuzzing
is in ``tests/test_network_fuzz.py``."""

from __future__ import annotations

import marshal

import pytest

from mplog import _protocol
from mplog._lineplan import JsonFormat, LinePlan, Output, Route, TextFormat, to_data
from mplog._plaindata import check, decode, welcome


def test_plain_values_pass_and_code_does_not() -> None:
    body = _protocol.encode({"a": [1, 2.5, None, True, b"x", ("t",)], "b": {"c": "d"}})
    check(body)
    assert decode(body)["b"] == {"c": "d"}
    code = marshal.dumps({"f": compile("1", "<x>", "eval")})
    with pytest.raises(ValueError, match="not plain data"):
        decode(code)
    with pytest.raises(ValueError):  # a list announcing 2**31 - 1 items in five bytes
        decode(b"[\xff\xff\xff\x7f")


def test_welcome_of_a_single_format_a_plan_and_nothing() -> None:
    assert welcome(b"") == (None, None)
    fmt = ["%(message)s", None, "%"]
    assert welcome(_protocol.encode({"line_format": fmt})) == (("%(message)s", None, "%"), None)
    plan = LinePlan((TextFormat("%(message)s"),), (Output(0),), Route((0,)))
    data = to_data(plan)
    assert welcome(_protocol.encode({"plan": data})) == (None, data)
    assert welcome(_protocol.encode({})) == (None, None)


@pytest.mark.parametrize(
    "data",
    [
        {"line_format": ["%(message)s", None, "!"]},
        {"line_format": [b"%(message)s", None, "%"]},
        {"line_format": ["%(message)s", 3, "%"]},
        {"line_format": ["{message.__class__}", None, "{"]},
        {"line_format": ["{message[0]}", None, "{"]},
        {"line_format": ["{message:{width}}", None, "{"]},
        {"plan": ["not", "a", "dict"]},
        {"line_format": 5},
        {"line_format": ["%(message)s", None]},
    ],
)
def test_a_welcome_that_is_not_one_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"a welcome|not a line plan"):
        welcome(_protocol.encode(data))


def test_json_format_round_trips() -> None:
    spec = JsonFormat(utc=True, timespec="seconds", encoder="json", static=(("svc", "x"),))
    plan = LinePlan((spec,), (Output(0, 20, "\r\n", "ascii", "replace"),), Route((0,)))
    assert welcome(_protocol.encode({"plan": to_data(plan)}))[1] == to_data(plan)
