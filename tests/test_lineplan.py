"""The line plan's routing (``mplog._lineplan``): a process resolves a logger name to the
same handlers, in the same order, as the listener's router, and the plan is plain data."""

from __future__ import annotations

import logging
import marshal
import pickle
from typing import Any

import pytest

from mplog._lineplan import (
    DESTS_FIELD,
    RECORD,
    JsonFormat,
    LinePlan,
    Output,
    TextFormat,
    from_data,
    take_dests,
    to_data,
)
from mplog._lineplan import Route as PlanRoute
from mplog._outputs.router import Route, Router

NAMES = ("a", "a.b", "a.b.c", "a.bc", "b", "b.x", "root", "x.y.z", "")


def _router() -> tuple[Router, list[logging.Handler]]:
    handlers = [logging.FileHandler("/dev/null", delay=True) for _ in range(4)]
    routes = {
        "a": Route((handlers[1],)),
        "a.b": Route((handlers[2], handlers[1]), propagate=False),
        "b": Route((handlers[3],), filters=(logging.Filter("b"),)),
    }
    return Router(Route((handlers[0],)), routes), handlers


@pytest.mark.parametrize("name", NAMES)
def test_chain_is_the_routers(name: str) -> None:
    """Same handlers, same order (duplicates kept: the record path writes them twice)."""
    router, _ = _router()
    plan = router.plan
    assert plan is not None
    indices, _ = plan.chain(name)
    by_index = [router.handlers[i] for i in indices]
    assert by_index == list(router._route_of(name)[1])


def test_filtered_is_the_loggers_own() -> None:
    """A logger's filters apply to its own records only, as ``Logger.handle`` does."""
    router, _ = _router()
    plan = router.plan
    assert plan is not None
    assert plan.chain("b")[1] is True
    assert plan.chain("b.x")[1] is False
    assert plan.chain("a")[1] is False


def test_plan_is_plain_data() -> None:
    """The plan pickles to itself (it travels in the WorkerConfig to spawned processes)."""
    router, _ = _router()
    plan = router.plan
    assert isinstance(plan, LinePlan)
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_take_dests() -> None:
    """A record frame's named handlers are taken out of its fields; a malformed list is
    refused (the listener then closes that connection, as for any bad frame)."""
    fields: dict[str, object] = {"msg": "m", DESTS_FIELD: [1, 0, 3]}
    assert take_dests(fields) == (True, [0, 3])
    assert fields == {"msg": "m"}
    assert take_dests(fields) == (False, None)
    for bad in ([1], "x", [0, "1"], [0, 1.5]):
        with pytest.raises(ValueError, match="naming handlers"):
            take_dests({DESTS_FIELD: bad})


def _plan() -> LinePlan:
    text = TextFormat("{asctime} {message!r:>10}", "%H", "{", (("custom", "-"),), "gmtime")
    json = JsonFormat(utc=True, static=(("svc", 1),), encoder="json")
    outputs = (Output(0, 10), Output(1, 20, "\r\n", "ascii", "replace"), Output(RECORD))
    routes = (("a", PlanRoute((1, 2), False, True)),)
    return LinePlan((text, json), outputs, PlanRoute((0,)), routes)


def test_the_plan_travels_as_plain_data_and_comes_back_the_same() -> None:
    """What the welcome carries to a network sender: marshal-able, and the same plan."""
    plan = _plan()
    data = marshal.loads(marshal.dumps(to_data(plan)))
    assert from_data(data) == plan


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("formats", 0, 1), "{message.__init__.__globals__}"),
        (("formats", 0, 1), "{args[0]}"),
        (("formats", 0, 3), "?"),
        (("formats", 0, 5), "os.system"),
        (("formats", 1, 3), "pickle"),
        (("formats", 1, 4), [["k", [1]]]),
        (("outputs", 0, 0), 5),
        (("outputs", 0, 1), "10"),
        (("root", 0), [7]),
        (("routes", 0, 1, 1), 1),
        (("formats",), [["code", 1]]),
    ],
)
def test_a_plan_from_the_network_is_checked(path: tuple[object, ...], value: object) -> None:
    """Every value is checked for its type and range; a ``{`` format may name fields only."""
    data = to_data(_plan())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match="not a line plan"):
        from_data(data)
