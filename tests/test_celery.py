"""mplog.celery.install: a real ``celery worker`` (prefork pool) and its pool processes log
into one file through the listener, across warm shutdown and replaced pool processes.

The worker runs the app of tests/_celery_app.py on kombu's filesystem broker in the test's
own folder (no server), and the test sends it tasks by name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mplog
from tests._helpers import check_sequences, wait_for

pytest.importorskip("celery", reason="Celery is not installed (the celery extra)")
from tests._celery_app import make_app

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0


class Worker:
    """A ``celery worker`` subprocess of the test app, and the app to send it tasks."""

    def __init__(
        self,
        folder: Path,
        *options: str,
        mode: str = "thread",
        start: str = "fork",
        env: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.log = folder / "worker.jsonl"
        self.app = make_app(str(folder))
        env = {
            **os.environ,
            **(env or {}),
            "MPLOG_TEST_CELERY_DIR": str(folder),
            "MPLOG_TEST_CELERY_MODE": mode,
            "MPLOG_TEST_CELERY_START": start,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-m", "celery", "-A", "tests._celery_app", "worker"]
        command += ["--pool", "prefork", "--concurrency", "2", "--loglevel", "INFO"]
        command += ["--without-heartbeat", "--without-mingle", "--without-gossip", *options]
        self.stderr = open(folder / "stderr.txt", "w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.stderr, stderr=subprocess.STDOUT
        )

    def send(self, tag: str, n: int, delay: float = 0.0, task: str = "log_records") -> None:
        args = (tag, n, delay) if task == "log_records" else (tag, n)
        self.app.send_task(task, args=args)

    def records(self) -> list[dict[str, Any]]:
        """Every record the listener has written so far (whole lines only)."""
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines(keepends=True) if line[-1] == "\n"]

    def seq(self) -> list[dict[str, Any]]:
        """The tasks' "seq" records, as check_sequences takes them."""
        return [
            {**r, "process": str(r["process"])}
            for r in self.records()
            if r["message"].startswith("seq ")
        ]

    def wait_seq(self, count: int) -> list[dict[str, Any]]:
        return wait_for(
            lambda: len(self.seq()) >= count and self.seq(), TIMEOUT, f"{count} task records"
        )

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Signal the worker (warm shutdown on SIGTERM); wait for it; return its output."""
        self.process.send_signal(sig)
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"the worker did not exit:\n{self.output()}") from None
        return self.output()

    def output(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Any]:
    """Start workers in this test's folder; kill any left running at the end."""
    workers: list[Worker] = []

    def start(*options: str, **kwargs: Any) -> Worker:
        worker = Worker(tmp_path, *options, **kwargs)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)
        worker.stderr.close()


@pytest.mark.parametrize(
    ("mode", "start"), [("thread", "fork"), ("process", "fork"), ("thread", "spawn")]
)
def test_pool_processes_log_into_one_file(worker_factory: Any, mode: str, start: str) -> None:
    """Tasks in both pool processes (forked, or spawned: worker_pool_start_method), with
    the listener a thread or a process of the worker's main process: every record once, in
    order per process, tagged with the Celery task and the pool index; the worker's own
    records are in the same file; the pool processes' ends at the warm shutdown are clean."""
    worker = worker_factory(mode=mode, start=start)
    for t in range(6):
        worker.send(f"t{t}", 20)
    worker.wait_seq(120)
    output = worker.stop()
    assert worker.process.returncode == 0, output
    records = worker.records()
    seq = worker.seq()
    check_sequences(seq, {f"t{t}": 20 for t in range(6)})
    assert {r["celery_task_name"] for r in seq} == {"log_records"}
    done = [r for r in records if r["logger"] == "tests._celery_app"]
    assert sorted(r["message"] for r in done) == [f"done t{t}" for t in range(6)]
    assert len({r["celery_task_id"] for r in seq}) == 6
    assert {r["worker_index"] for r in seq} <= {0, 1}
    main = {r["process"] for r in records if r["processName"] == "MainProcess"}
    assert len(main) == 1 and not main & {r["process"] for r in seq}
    assert any(r["logger"].startswith("celery") for r in records), "no record of Celery's own"
    assert not [r for r in records if "ended without closing" in r["message"]], records
    assert "mplog:" not in output, output


def test_warm_shutdown_loses_nothing(worker_factory: Any) -> None:
    """SIGTERM while tasks log: the warm shutdown lets the running tasks finish, and every
    record they logged is in the file once (no task is cut in half)."""
    worker = worker_factory()
    for t in range(4):
        worker.send(f"t{t}", 30, 0.02)
    wait_for(lambda: len({r["message"].split()[1] for r in worker.seq()}) >= 2, TIMEOUT, "tasks")
    output = worker.stop(signal.SIGTERM)
    assert worker.process.returncode == 0, output
    seq = worker.seq()
    tags = {r["message"].split()[1] for r in seq}
    assert len(tags) >= 2
    check_sequences(seq, {tag: 30 for tag in tags})


def test_replaced_pool_processes_log(worker_factory: Any) -> None:
    """Pool processes replaced after each task (--max-tasks-per-child 1) and one SIGKILLed
    after logging: every record is in the file once, the replacements are configured too,
    and only the killed one is reported as a death (the others said goodbye)."""
    worker = worker_factory("--max-tasks-per-child", "1")
    worker.send("k0", 10, task="log_then_die")
    worker.wait_seq(10)
    for t in range(4):
        worker.send(f"t{t}", 10)
    worker.wait_seq(50)
    output = worker.stop()
    assert worker.process.returncode == 0, output
    seq = worker.seq()
    check_sequences(seq, {"k0": 10, **{f"t{t}": 10 for t in range(4)}})
    assert len({r["process"] for r in seq}) == 5
    deaths = [r for r in worker.records() if "ended without closing" in r["message"]]
    assert len(deaths) == 1, deaths
    killed = next(r["process"] for r in seq if r["message"].startswith("seq k0 "))
    assert f"process {killed} " in deaths[0]["message"]


def test_workers_ship_to_a_listener_elsewhere(worker_factory: Any, tmp_path: Path) -> None:
    """install(app, connect="host:port", key_env=...): the worker's main process and its
    pool processes ship over TCP to a listener started elsewhere (here: in the test), at
    the level install() gave."""
    key = "k" * 32
    central = tmp_path / "central.jsonl"
    with mplog.setup_listener(central, json=True, listen="127.0.0.1:0", key=key) as listener:
        host, port = listener.network_address
        env = {"MPLOG_TEST_CELERY_CONNECT": f"{host}:{port}", "MPLOG_TEST_CELERY_KEY": key}
        worker = worker_factory(env=env)
        worker.log = central
        for t in range(4):
            worker.send(f"t{t}", 10)
        worker.wait_seq(40)
        output = worker.stop()
        stats = listener.stop()
    assert worker.process.returncode == 0, output
    seq = worker.seq()
    check_sequences(seq, {f"t{t}": 10 for t in range(4)})
    assert {r["celery_task_name"] for r in seq} == {"log_records"}
    assert not (tmp_path / "worker.jsonl").exists()
    worker_main = {r["process"] for r in worker.records() if r["logger"] == "celery.apps.worker"}
    assert len(worker_main) == 1 and not worker_main & {int(r["process"]) for r in seq}
    assert stats["workers_dead"] == 0, stats["processes"]
