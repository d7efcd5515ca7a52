"""``mplog.ray.install()``: every Ray worker, tasks and actors, logs into an mplog listener.

Configured once, in the driver::

    ray.init(runtime_env=mplog.ray.install())

``install`` returns a ``runtime_env`` whose ``worker_process_setup_hook`` Ray runs in every
worker process of the job when it starts (on every node): it calls
:func:`mplog.configure_worker` there, so each worker ships its records over its own
connection to the listener, before each logging call returns (nothing waits in a log file
for Ray's log monitor: the last lines of a job are in the listener once ``ray.get``
returns). Records carry ``ray_task_id`` and ``ray_actor_id`` (hex text; None in the driver
and outside tasks), for formats, JSON lines and filters. Workers reach the listener as Dask's
do (:mod:`mplog._engines`): its local socket on its machine, TCP to its ``listen=`` address
elsewhere, or TCP to ``address=`` for a listener started elsewhere.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from mplog._engines import Route, route
from mplog._worker.context import add_provider
from mplog._worker.handler import configure_worker

try:
    import ray
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"mplog.ray needs Ray ({exc}): pip install 'mplog[ray]'") from exc

#: The record fields this module adds.
FIELDS = ("ray_task_id", "ray_actor_id")
_NONE: Mapping[str, Any] = {"ray_task_id": None, "ray_actor_id": None}


#: This worker's runtime context (``ray.get_runtime_context()``), once a record needed it.
_runtime: Any = None


def _fields() -> Mapping[str, Any]:
    """The Ray fields of a record logged now in this worker process, in this thread."""
    global _runtime
    if _runtime is None:
        _runtime = ray.get_runtime_context()  # 0.7 µs a call: once per process
    return {"ray_task_id": _runtime.get_task_id(), "ray_actor_id": _runtime.get_actor_id()}


def _driver_fields() -> Mapping[str, Any]:
    """The Ray fields in the driver: no task, no actor (and Ray warns when asked)."""
    return _NONE


class SetupHook:
    """Ray's ``worker_process_setup_hook``: configures mplog in the worker, then runs the
    hook the user's ``runtime_env`` had, if any."""

    #: Ray shows the hook by this name (``runtime_env["worker_process_setup_hook"]``).
    __name__ = "mplog_worker_setup"

    def __init__(self, route: Route, then: Callable[[], Any] | str | None = None) -> None:
        self.route = route
        self.then = then

    def __call__(self) -> None:
        config = self.route.choose()
        if config is None:
            self.route.say_unreachable(f"Ray worker (pid {os.getpid()})")
        else:
            add_provider(_fields)
            configure_worker(config)
        then = self.then
        if isinstance(then, str):  # Ray's own form: "package.module.function"
            module, _, name = then.rpartition(".")
            then = getattr(importlib.import_module(module), name)
        if then is not None:
            then()


def install(
    listener: Any = None,
    *,
    runtime_env: Mapping[str, Any] | None = None,
    address: str | tuple[str, int] | None = None,
    key: bytes | str | None = None,
    key_env: str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    tls: object = None,
) -> dict[str, Any]:
    """The ``runtime_env`` for ``ray.init`` (or a job, a task's ``.options``) that makes
    every Ray worker log into the listener: ``ray.init(runtime_env=mplog.ray.install())``.

    ``listener`` defaults to the running one; ``address=`` and the key select a listener
    started elsewhere, and ``tls`` reaches a listener that uses TLS, as in
    :func:`mplog.dask.install`. ``runtime_env`` is the rest of your
    runtime environment, returned with the hook added; a ``worker_process_setup_hook`` it
    has runs after mplog's. Records logged in this process get the Ray fields too (None).
    """
    env = dict(runtime_env or {})
    then = env.pop("worker_process_setup_hook", None)
    env["worker_process_setup_hook"] = SetupHook(
        route(listener, address, key, key_env, key_file, tls), then
    )
    add_provider(_driver_fields)
    return env
