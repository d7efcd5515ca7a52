"""Celery: a prefork worker and its pool processes log into one file through mplog.

``mplog.celery.install(app, "celery.log")`` in the app's module: the worker's main process
starts the listener (Celery's own logging setup is skipped), every pool process, replacements
included, ships its records there, and the warm shutdown (SIGTERM) drains them all.
This script plays both parts: it is the app module of a ``celery worker`` it starts on
kombu's filesystem broker (no server needed) in OUTPUT_DIR, sends it four tasks, stops it
with SIGTERM, and says what the file holds. Needs Celery (``pip install -e ".[celery]"``).
Run: ``python examples/celery_worker.py [OUTPUT_DIR]``.
"""

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time

from celery import Celery

import mplog.celery

FOLDER = os.environ.get("MPLOG_EXAMPLE_DIR", ".")
BROKER = os.path.join(FOLDER, "broker")

app = Celery("celery_worker", broker="filesystem://", set_as_current=False)
app.conf.update(
    broker_transport_options={
        "data_folder_in": BROKER,
        "data_folder_out": BROKER,
        "control_folder": os.path.join(FOLDER, "control"),
        "polling_interval": 0.1,
    },
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)
# The whole integration: the worker's processes all log into FOLDER/celery.log.
mplog.celery.install(app, os.path.join(FOLDER, "celery.log"), level="INFO")


@app.task(name="add")
def add(x: int, y: int) -> int:
    logging.getLogger("example.add").info("adding %d + %d", x, y)
    return x + y


def output_dir() -> str:
    """The directory named on the command line (created if needed), else a new temp dir."""
    if len(sys.argv) > 1:
        os.makedirs(sys.argv[1], exist_ok=True)
        return os.path.abspath(sys.argv[1])
    return tempfile.mkdtemp(prefix="mplog-example-")


def count_adds(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as file:
        return sum(" example.add INFO adding " in line for line in file)


def main() -> None:
    folder = output_dir()
    os.makedirs(os.path.join(folder, "broker"), exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, "-m", "celery", "-A", "celery_worker", "worker"]
    command += ["--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO"]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    env = {**os.environ, "MPLOG_EXAMPLE_DIR": folder}
    with open(os.path.join(folder, "worker.out"), "w") as out:
        worker = subprocess.Popen(command, cwd=here, env=env, stdout=out, stderr=out)
        sender = Celery(broker="filesystem://", set_as_current=False)
        sender.conf.broker_transport_options = {
            "data_folder_in": os.path.join(folder, "broker"),
            "data_folder_out": os.path.join(folder, "broker"),
            "control_folder": os.path.join(folder, "control"),
        }
        for n in range(4):
            sender.send_task("add", args=(n, n))
        path = os.path.join(folder, "celery.log")
        deadline = time.monotonic() + 60
        while count_adds(path) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the listener drains at the end
        worker.wait(60)
    with open(path, encoding="utf-8") as file:
        lines = file.readlines()
    print(f"wrote {path} ({len(lines)} lines, {count_adds(path)} from the tasks)")
    sys.exit(worker.returncode)


if __name__ == "__main__":
    main()
