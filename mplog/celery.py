"""``mplog.celery.install(app, ...)``: a Celery worker and all its pool processes log into one
listener, which alone writes the file.

Celery's prefork pool has no safe way for its processes to share a file (celery #7791,
billiard #290): each would open it on its own. ``install`` connects Celery's signals:

- ``celeryd_init`` (the worker's main process, before anything logs) marks the process as a
  worker of ``app`` and connects ``setup_logging`` there (other programs of the app, such as
  ``celery beat``, keep Celery's own logging setup);
- ``setup_logging`` (having a receiver stops Celery from configuring logging itself, and
  from giving its task logger a handler of its own): in the worker's main process, starts
  the listener with ``install``'s arguments (by default at Celery's ``--loglevel`` and into
  its ``--logfile``) and leaves its ``WorkerConfig`` in the environment (:data:`ENV`) for
  the pool processes, forked or spawned; in a spawned pool process, which finds it there,
  configures the process;
- ``worker_process_init`` (every pool process, replacements included): configures the
  process and sets ``worker_index`` to its pool index;
- ``task_prerun``/``task_postrun``: records logged by a task carry ``celery_task_id`` and
  ``celery_task_name``;
- ``worker_process_shutdown``: the pool process says goodbye (its end is not a death);
- ``worker_shutdown`` (the main process, after a warm shutdown stopped the pool): stops the
  listener, which drains every record first. The listener also stops at exit (atexit).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import pickle
from typing import TYPE_CHECKING, Any

try:
    from celery import signals
except ImportError as exc:
    raise ImportError(
        f"mplog.celery needs Celery ({exc}): python -m pip install 'mplog[celery]'"
    ) from exc

from mplog._settings import WorkerConfig
from mplog._worker import context
from mplog._worker.handler import ShippingHandler, active_config, configure_worker

if TYPE_CHECKING:
    from mplog._listener.supervisor import Listener

#: The environment variable through which the worker's main process hands its pool
#: processes the listener's config: "<pid of the main process>:<base64 of the pickle>".
ENV = "MPLOG_CELERY_WORKER_CONFIG"
_UID = "mplog.celery"

_app: Any = None
_arguments: tuple[Any, dict[str, Any]] = (None, {})
_connect_to: str | tuple[str, int] | None = None
_is_worker = False
_listener: Listener | None = None
#: Open context() blocks of running tasks, by Celery task id.
_task_fields: dict[str, Any] = {}


def install(
    app: Any,
    filename: str | os.PathLike[str] | None = None,
    *,
    connect: str | tuple[str, int] | None = None,
    **kwargs: Any,
) -> None:
    """Make ``app``'s workers log into one listener started in each worker's main process,
    or, with ``connect="host:port"``, into a listener elsewhere (``setup_listener(listen=)``
    on the machine that collects the logs of every worker host).

    ``filename`` and ``kwargs`` are :func:`mplog.setup_listener`'s arguments (``level``,
    ``fmt``, ``mode``, ``rotate``, ``json``, ``handlers``, ``config``, ...); with ``connect``,
    ``kwargs`` are :func:`mplog.connect`'s (``key``, ``key_env``, ``key_file``, ``level``).
    Without a destination the worker's ``--logfile`` is used; without ``level``, its
    ``--loglevel``. Call it where the worker imports the app (the module ``celery -A`` names).
    """
    global _app, _arguments, _connect_to
    if connect is not None and filename is not None:
        raise ValueError("give install() a file name or connect=, not both")
    _app, _arguments, _connect_to = app, (filename, dict(kwargs)), connect
    receivers = (
        (signals.celeryd_init, _on_worker_init),
        (signals.worker_process_init, _on_process_init),
        (signals.task_prerun, _on_task_prerun),
        (signals.task_postrun, _on_task_postrun),
        (signals.worker_process_shutdown, _on_process_shutdown),
        (signals.worker_shutdown, _on_worker_shutdown),
    )
    for signal, receiver in receivers:
        signal.connect(receiver, weak=False, dispatch_uid=_UID)
    if inherited_config() is not None:  # a pool process spawned by a worker
        signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid=_UID)


def listener() -> Listener | None:
    """The listener this process started as a worker's main process, or None."""
    return _listener


def _on_worker_init(sender: Any = None, instance: Any = None, **_: Any) -> None:
    global _is_worker
    if getattr(instance, "app", _app) is _app:
        _is_worker = True
        signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid=_UID)


def _on_setup_logging(loglevel: int | None = None, logfile: str | None = None, **_: Any) -> None:
    config = inherited_config()
    if config is not None:  # a spawned pool process
        configure_worker(config)
    elif _is_worker and not os.environ.get(ENV):  # not started yet (ENV is ours, if set)
        _start_listener(loglevel, logfile)


def _start_listener(loglevel: int | None, logfile: str | None) -> None:
    global _listener
    filename, kwargs = _arguments
    kwargs = dict(kwargs)
    if loglevel:
        kwargs.setdefault("level", loglevel)
    if _connect_to is not None:
        from mplog._connect import connect

        connect(_connect_to, **kwargs)
        config = active_config()  # with this process's levels, which connect() set
        assert config is not None, "connect() makes its config the active one"
    else:
        from mplog._setup import setup_listener  # only the worker's main process needs it

        if filename is None and "handlers" not in kwargs and "config" not in kwargs:
            filename = logfile
            if filename is None:
                raise ValueError(
                    "mplog.celery.install() needs a destination: pass a file name, handlers= "
                    "or config= to install(), or start the worker with --logfile FILE"
                )
        _listener = setup_listener(filename, **kwargs)
        config = _listener.worker_config
    encoded = base64.b64encode(pickle.dumps(config)).decode("ascii")
    os.environ[ENV] = f"{os.getpid()}:{encoded}"


def inherited_config() -> WorkerConfig | None:
    """The config a worker's main process left for its pool processes, when this process
    is one of them (None in the main process itself, or outside a worker)."""
    value = os.environ.get(ENV)
    if not value:
        return None
    pid, _, encoded = value.partition(":")
    if pid == str(os.getpid()):
        return None
    config = pickle.loads(base64.b64decode(encoded))
    return config if isinstance(config, WorkerConfig) else None


def _on_process_init(**_: Any) -> None:
    config = inherited_config()
    if config is None:
        return
    configure_worker(config)
    from celery.utils.log import current_process_index

    context.set_worker_index(current_process_index(base=0))


def _on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None:
        return
    block = context.context(celery_task_id=task_id, celery_task_name=getattr(task, "name", None))
    block.__enter__()
    _task_fields[task_id] = block


def _on_task_postrun(task_id: str | None = None, **_: Any) -> None:
    block = _task_fields.pop(task_id or "", None)
    if block is not None:
        # ValueError: a pool that ran the task in another context (not prefork's case).
        with contextlib.suppress(ValueError):
            block.__exit__(None, None, None)


def _on_process_shutdown(**_: Any) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ShippingHandler):
            handler.say_goodbye()


def _on_worker_shutdown(**_: Any) -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
        os.environ.pop(ENV, None)
