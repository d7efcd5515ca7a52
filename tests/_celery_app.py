"""The Celery app that tests/test_celery.py runs real ``celery worker`` processes of.

Configured from the environment, so that each test has its own folder and tests never share
a broker: the filesystem broker in ``$MPLOG_TEST_CELERY_DIR/broker`` (no server needed), no
result backend, and mplog's listener writing JSON lines (every field, Celery's included) to
``$MPLOG_TEST_CELERY_DIR/worker.jsonl``, in the mode ``$MPLOG_TEST_CELERY_MODE``; the pool
starts its processes with ``$MPLOG_TEST_CELERY_START`` (fork or spawn). With
``$MPLOG_TEST_CELERY_CONNECT`` (host:port) the worker ships to that listener instead, with
the key in ``$MPLOG_TEST_CELERY_KEY``.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from celery import Celery
from celery.utils.log import get_task_logger

import mplog.celery
from tests._workers import _next_pcount

FOLDER = os.environ.get("MPLOG_TEST_CELERY_DIR", ".")


def make_app(folder: str) -> Celery:
    """An app on the filesystem broker in ``folder`` (the worker's and the test's)."""
    broker = os.path.join(folder, "broker")
    os.makedirs(broker, exist_ok=True)
    app = Celery("mplog_test", broker="filesystem://", set_as_current=False)
    app.conf.update(
        broker_transport_options={
            "data_folder_in": broker,
            "data_folder_out": broker,
            "control_folder": os.path.join(folder, "control"),
            "polling_interval": 0.05,
        },
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_pool_start_method=os.environ.get("MPLOG_TEST_CELERY_START", "fork"),
    )
    return app


app = make_app(FOLDER)
if os.environ.get("MPLOG_TEST_CELERY_CONNECT"):  # a listener elsewhere, over TCP
    mplog.celery.install(
        app,
        connect=os.environ["MPLOG_TEST_CELERY_CONNECT"],
        key_env="MPLOG_TEST_CELERY_KEY",
        level="INFO",
    )
else:
    mplog.celery.install(
        app,
        os.path.join(FOLDER, "worker.jsonl"),
        json=True,
        level="INFO",
        mode=os.environ.get("MPLOG_TEST_CELERY_MODE", "thread"),
    )


@app.task(name="log_records")
def log_records(tag: str, n: int, delay: float = 0.0) -> int:
    """Log ``n`` records "seq <tag> <per-process count> <i>", ``delay`` seconds apart."""
    log = logging.getLogger("app")
    for i in range(n):
        log.info("seq %s %d %d", tag, _next_pcount(), i)
        if delay:
            time.sleep(delay)
    get_task_logger(__name__).info("done %s", tag)  # Celery's task logger reaches it too
    return os.getpid()


@app.task(name="log_then_die")
def log_then_die(tag: str, n: int) -> None:
    """Log ``n`` sequence records, then SIGKILL this pool process."""
    log_records(tag, n)
    os.kill(os.getpid(), signal.SIGKILL)
