"""mplog._frozen: frozen value classes behave as the frozen dataclasses they replace, and
refuse what they do not support when the class is defined."""

from __future__ import annotations

import copy
import pickle
import sys
from typing import ClassVar

import pytest

from mplog._frozen import FrozenInstanceError, field, frozen, replace
from mplog._settings import Shipping, WorkerConfig


@frozen
class Point:
    """A test value: one required field, a default, a factory and a hidden field."""

    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


def test_construction_by_position_and_keyword() -> None:
    """Fields bind by position and by keyword; defaults and factories fill the rest."""
    assert Point(1, 2).y == 2
    point = Point(x=3)
    assert (point.x, point.y, point.tags, point.secret) == (3, 0, [], None)
    assert Point(1).tags is not Point(1).tags  # a new list per instance


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'x'"),
        ((1, 2, [], None, 5), {}, "takes 4 arguments, got 5"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
        ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
    ],
)
def test_wrong_arguments_are_refused(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    """Missing, surplus, doubled and unknown arguments raise TypeError, naming the field."""
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)  # type: ignore[arg-type]


def test_post_init_validates() -> None:
    """``__post_init__`` runs after the fields are set, on construction and on replace()."""
    with pytest.raises(ValueError, match="negative"):
        Point(-1)
    with pytest.raises(ValueError, match="negative"):
        replace(Point(1), x=-1)


def test_fields_cannot_change() -> None:
    """Assigning or deleting a field raises FrozenInstanceError (an AttributeError)."""
    point = Point(1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot delete field 'y'"):
        del point.y  # type: ignore[misc]


def test_equality_hash_and_repr() -> None:
    """Values of the same class compare by their fields; ``repr=False`` fields are hidden."""
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != (1, 2)
    assert hash(replace(Point(1, 2), tags=())) == hash(Point(1, 2, ()))  # type: ignore[arg-type]
    assert repr(Point(1, secret=b"k")) == "Point(x=1, y=0, tags=[])"


def test_replace_and_copies() -> None:
    """replace() changes some fields; copy, deepcopy and pickle give equal values."""
    point = Point(1, 2, ["a"], b"k")
    changed = replace(point, y=5)
    assert (changed.x, changed.y, changed.tags, changed.secret) == (1, 5, ["a"], b"k")
    assert copy.copy(point) == point == copy.deepcopy(point)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(point, protocol)) == point
    if sys.version_info >= (3, 13):
        assert copy.replace(point, x=9) == replace(point, x=9)  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(point, z=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes a frozen value"):
        replace(object())


def test_the_settings_it_carries_survive_pickling() -> None:
    """What main pickles into every worker comes back equal, the key still hidden."""
    config = WorkerConfig(
        "/tmp/sock", "token", levels=(("app", 10),), shipping=Shipping(on_full="drop"), key=b"k"
    )
    assert pickle.loads(pickle.dumps(config)) == config
    assert "key" not in repr(config) and "on_full='drop'" in repr(config)
    assert config.with_levels(20, ()).root_level == 20
    with pytest.raises(ValueError, match="on_full"):
        replace(config.shipping, on_full="sometimes")


def test_unsupported_declarations_are_refused() -> None:
    """What a dataclass could do and these classes do not is refused at definition."""
    with pytest.raises(TypeError, match="ClassVar"):

        @frozen
        class WithClassVar:
            count: ClassVar[int] = 0

    with pytest.raises(TypeError, match="required field 'b' follows a default"):

        @frozen
        class Misordered:
            a: int = 0
            b: int  # type: ignore[misc]

    with pytest.raises(TypeError, match="cannot inherit fields"):

        @frozen
        class Child(Point):
            z: int = 0

    with pytest.raises(ValueError, match="both a default and a default_factory"):
        field(default=1, default_factory=list)
