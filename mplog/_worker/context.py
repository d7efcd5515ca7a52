"""Context stamped on every record a process ships: pool worker, current task, user fields.

Fields live in ``contextvars``, so each thread and each asyncio task keeps its own. Every
record shipped carries ``worker_index``, ``task_id`` and ``task_name`` (None outside a pool
or a task), so text formats such as ``%(task_id)s`` never fail, plus the fields of every
enclosing :func:`context` block. A process that ships finished lines stamps a record only when
its format names a pool field, a :func:`context` block is open or an engine integration adds
fields (:func:`add_provider`; see :func:`stamp_needed`):
stamping costs a third of a microsecond, a tenth of what shipping a line costs.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from mplog._settings import POOL_FIELDS, STANDARD_ATTRIBUTES

TYPE_CHECKING = False  # typing is not imported at run time: every spawned worker loads this
if TYPE_CHECKING:
    from typing import Any

_RESERVED = STANDARD_ATTRIBUTES | set(POOL_FIELDS)
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_fields: ContextVar[Mapping[str, Any]] = ContextVar("mplog_fields", default=_EMPTY)
_task: ContextVar[tuple[int | None, str | None]] = ContextVar("mplog_task", default=(None, None))
_worker_index: int | None = None
#: Functions an engine integration adds (``mplog.dask``, ``mplog.ray``): each returns the
#: fields it stamps on a record logged now (a Dask task key, a Ray actor id).
_providers: list[Callable[[], Mapping[str, Any]]] = []
#: This machine's name, stamped on every record as ``hostname`` (computed once).
HOSTNAME = socket.gethostname()


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block (nested blocks add up).

    >>> with mplog.context(request_id="r-42"):
    ...     log.info("handled")  # the record has record.request_id == "r-42"
    """
    clashes = sorted(_RESERVED.intersection(fields))
    if clashes:
        raise ValueError(
            f"context fields {clashes} would overwrite LogRecord attributes; choose other names"
        )
    token = _fields.set(MappingProxyType({**_fields.get(), **fields}))
    try:
        yield
    finally:
        _fields.reset(token)


@contextmanager
def running_task(task_id: int, task_name: str) -> Iterator[None]:
    """Mark records logged inside the block as belonging to this task."""
    token = _task.set((task_id, task_name))
    try:
        yield
    finally:
        _task.reset(token)


def add_provider(provider: Callable[[], Mapping[str, Any]]) -> None:
    """Stamp the fields ``provider()`` returns on every record this process ships (added once;
    ``extra=`` and :func:`context` values of the same name win). It runs for every record:
    keep it to a few attribute reads."""
    if provider not in _providers:
        _providers.append(provider)


def remove_provider(provider: Callable[[], Mapping[str, Any]]) -> None:
    """Stop stamping the fields of ``provider`` (added by :func:`add_provider`)."""
    if provider in _providers:
        _providers.remove(provider)


def set_worker_index(index: int | None) -> None:
    """Record this process's index in its pool (assigned when the worker starts)."""
    global _worker_index
    _worker_index = index


def names_pool_fields(fmt: str) -> bool:
    """Whether a format string may name a pool field (a false positive only costs time)."""
    return any(name in fmt for name in POOL_FIELDS)


def stamp_needed(format_names_pool_fields: bool) -> bool:
    """Whether a record formatted with such a format must be stamped before formatting."""
    return format_names_pool_fields or bool(_providers) or bool(_fields.get())


def unstamped_pool(record: logging.LogRecord) -> tuple[Any, Any] | None:
    """``(worker index, task)``, the objects the pool fields :func:`stamp` would add to
    ``record`` come from (see :func:`pool_items`), when they are all it would add: no field
    of their names on the record, no :func:`context` block open, no provider. None otherwise
    (stamp the record). The same objects come back while the task runs."""
    attributes = record.__dict__
    if (
        _providers
        or _fields.get()
        or "task_id" in attributes
        or "task_name" in attributes
        or "worker_index" in attributes
        or "hostname" in attributes
    ):
        return None
    return _worker_index, _task.get()


def pool_items(worker_index: Any, task: tuple[Any, Any]) -> list[tuple[str, Any]]:
    """The fields :func:`stamp` adds, in its order, from :func:`unstamped_pool`'s objects."""
    return [
        ("worker_index", worker_index),
        ("task_id", task[0]),
        ("task_name", task[1]),
        ("hostname", HOSTNAME),
    ]


def stamp(record: logging.LogRecord) -> None:
    """Set the context attributes on ``record``; ``extra=`` values of the same name win."""
    attributes = record.__dict__
    task_id, task_name = _task.get()
    if (
        "task_id" in attributes
        or "task_name" in attributes
        or "worker_index" in attributes
        or "hostname" in attributes
    ):
        attributes.setdefault("worker_index", _worker_index)
        attributes.setdefault("task_id", task_id)
        attributes.setdefault("task_name", task_name)
        attributes.setdefault("hostname", HOSTNAME)
    else:  # the usual case, in one call: this runs for every record
        attributes.update(
            worker_index=_worker_index, task_id=task_id, task_name=task_name, hostname=HOSTNAME
        )
    fields = _fields.get()
    if fields:
        for key, value in fields.items():
            attributes.setdefault(key, value)
    for provider in _providers:
        for key, value in provider().items():
            attributes.setdefault(key, value)
