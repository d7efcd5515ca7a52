"""Frozen value classes, declared like frozen dataclasses, without the ``dataclasses`` module.

What crosses from main to every worker (``WorkerConfig``, ``Shipping``) is a class every
spawned worker must import to unpickle it. ``dataclasses`` imports ``inspect`` (and with it
``ast``, ``dis``, ``tokenize``) and builds each class by compiling generated code: about 6 ms
of a spawned worker's start on a 2-core machine, more than mplog's whole worker side. A class
decorated with :func:`frozen` is declared the same way (annotated fields, defaults,
``field(default_factory=..., repr=False)``, ``__post_init__``) and behaves the same for what
mplog uses: keyword or positional construction, immutability, ``==``, ``hash``, ``repr``,
pickling and :func:`replace` (also ``copy.replace`` on 3.13+). Anything else a dataclass
offers is refused with a ``TypeError`` when the class is defined, never half-supported.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: workers skip it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> Callable[[T], T]:
        """Tells type checkers that :func:`frozen` makes dataclass-like classes (PEP 681)."""
        return lambda decorated: decorated


_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """An attempt to change a field of a frozen value."""


class Field:
    """A field's default (a value or a factory) and whether ``repr`` shows it."""

    __slots__ = ("default", "default_factory", "repr")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | Any, repr: bool) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("a field cannot have both a default and a default_factory")
        self.default = default
        self.default_factory = default_factory
        self.repr = repr

    def value(self, owner: str, name: str) -> Any:
        """The default of a field the caller left out."""
        if self.default_factory is not _MISSING:
            return self.default_factory()
        if self.default is _MISSING:
            raise TypeError(f"{owner}() missing required argument: {name!r}")
        return self.default


def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, repr: bool = True) -> Any:
    """A field's default or ``default_factory``, and ``repr=False`` to keep it out of ``repr``
    (the subset of ``dataclasses.field`` mplog uses)."""
    return Field(default, default_factory, repr)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen value class of its annotated fields (see the module docstring)."""
    fields = _fields(cls)
    names = tuple(fields)
    shown = tuple(name for name, spec in fields.items() if spec.repr)
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes {len(names)} arguments, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(f"{qualname}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}() got multiple values for argument {key!r}")
            values[key] = value
        for name in names:
            value = values[name] if name in values else fields[name].value(qualname, name)
            object.__setattr__(self, name, value)
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{qualname}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _values(self, names) == _values(other, names)

    def __hash__(self: Any) -> int:
        return hash(_values(self, names))

    def __setattr__(self: Any, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {qualname}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} of a frozen {qualname}")

    def __replace__(self: Any, **changes: Any) -> Any:
        return self.__class__(**{**{n: getattr(self, n) for n in names}, **changes})

    methods = {
        "__init__": __init__,
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__replace__": __replace__,
    }
    for name, method in methods.items():
        method.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, method)
    setattr(cls, "__match_args__", names)  # noqa: B010  # mypy refuses the plain assignment
    cls.__frozen_fields__ = names  # type: ignore[attr-defined]
    return cls


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a frozen value with some fields changed (``__post_init__`` runs again)."""
    if not hasattr(type(obj), "__frozen_fields__"):
        raise TypeError(f"replace() takes a frozen value, got {type(obj).__name__}")
    return obj.__replace__(**changes)  # type: ignore[attr-defined,no-any-return]


def _values(obj: object, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in names)


def _fields(cls: type) -> dict[str, Field]:
    """The class's own annotated fields, in order, with their defaults; refuses what
    :func:`frozen` does not do (base classes with fields, class variables, a required field
    after one with a default)."""
    if any(hasattr(base, "__frozen_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__qualname__}: a frozen value class cannot inherit fields")
    fields: dict[str, Field] = {}
    own: dict[str, Any] = cls.__annotations__  # 3.10+: the class's own, never a base's
    for name, annotation in own.items():
        if "ClassVar" in str(annotation) or "InitVar" in str(annotation):
            raise TypeError(f"{cls.__qualname__}.{name}: ClassVar/InitVar are not supported")
        declared = cls.__dict__.get(name, _MISSING)
        spec = declared if isinstance(declared, Field) else Field(declared, _MISSING, True)
        if isinstance(declared, Field):
            delattr(cls, name)  # no class attribute stands for a factory or a marker
            if spec.default is not _MISSING:
                setattr(cls, name, spec.default)
        if _required(spec) and not all(_required(f) for f in fields.values()):
            raise TypeError(f"{cls.__qualname__}: required field {name!r} follows a default")
        fields[name] = spec
    return fields


def _required(spec: Field) -> bool:
    return spec.default is _MISSING and spec.default_factory is _MISSING
