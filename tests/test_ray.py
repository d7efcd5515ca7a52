"""mplog.ray: every worker of a real local Ray instance, tasks and actors, logs into the
listener, with its task and actor ids, and nothing of a job's end is lost (ray #46413)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._worker import context as _context
from tests._engines import read_fields as read
from tests._engines import shipping_address
from tests._helpers import TIMEOUT, wait_for

ray = pytest.importorskip(
    "ray",
    reason="Ray is not installed: it has no wheel for this Python (pip install 'mplog[ray]')",
)
mplog_ray = pytest.importorskip("mplog.ray")

ROOT = str(Path(__file__).resolve().parent.parent)
RAY_FMT = "%(process)d|%(ray_task_id)s|%(ray_actor_id)s|%(name)s|%(message)s"
KEY = "ray-test-key-0123456789abcdef"


def log_records(tag: str, count: int) -> tuple[str, int]:
    """A task: log ``count`` numbered records, the last one just before returning."""
    log = logging.getLogger("app.ray")
    for i in range(count):
        log.info("rec %s %d", tag, i)
    return ray.get_runtime_context().get_task_id(), os.getpid()


class Counter_:
    """An actor whose methods log."""

    def __init__(self) -> None:
        logging.getLogger("app.actor").info("actor started")

    def work(self, tag: str, count: int) -> tuple[str, str, int]:
        for i in range(count):
            logging.getLogger("app.actor").info("rec %s %d", tag, i)
        context = ray.get_runtime_context()
        return context.get_task_id(), context.get_actor_id(), os.getpid()


class Crashy:
    """An actor that Ray restarts after its process dies."""

    def pid(self) -> int:
        logging.getLogger("app.crashy").info("alive in %d", os.getpid())
        return os.getpid()

    def crash(self) -> None:
        logging.getLogger("app.crashy").info("crashing %d", os.getpid())
        os._exit(1)


def user_hook() -> None:
    """A user's own worker_process_setup_hook: runs after mplog's, so it can log."""
    logging.getLogger("app.hook").info("user hook ran")


@pytest.fixture
def ray_session() -> Iterator[Any]:
    """Start a local Ray instance with ``ray_session(runtime_env)``; shut down after."""

    def start(runtime_env: dict[str, Any]) -> None:
        # Ray's workers import this module (the functions and the user hook) from the repo.
        runtime_env.setdefault("env_vars", {})["PYTHONPATH"] = ROOT
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
        )

    try:
        yield start
    finally:
        ray.shutdown()
        _context.remove_provider(mplog_ray._driver_fields)


def check(lines: list[list[str]], tags: dict[str, tuple[str, str, int]], count: int) -> None:
    """Every record of each tag arrived once, from its process, with its task/actor ids."""
    expected = {f"rec {tag} {i}": origin for tag, origin in tags.items() for i in range(count)}
    seen = Counter(line[4] for line in lines if line[4] in expected)
    assert seen == dict.fromkeys(expected, 1), "records lost or duplicated"
    for line in lines:
        if line[4] in expected:
            task_id, actor_id, pid = expected[line[4]]
            assert line[:3] == [str(pid), task_id, actor_id]


def test_tasks_and_actors_log_with_their_ids(tmp_path: Path, ray_session: Any) -> None:
    path = tmp_path / "ray.log"
    with mplog.setup_listener(path, level="INFO", fmt=RAY_FMT) as listener:
        ray_session(mplog_ray.install(runtime_env={"worker_process_setup_hook": user_hook}))
        task = ray.remote(log_records)
        results = ray.get([task.remote(f"t{n}", 50) for n in range(12)], timeout=TIMEOUT)
        actor = ray.remote(Counter_).remote()
        calls = ray.get([actor.work.remote(f"a{n}", 50) for n in range(3)], timeout=TIMEOUT)
        logging.getLogger("app.main").info("driver done")
        ray.shutdown()  # at once: the job's last lines must not be lost (ray #46413)
        stats = listener.stop()
    lines = read(path)
    tags = {f"t{n}": (task_id, "None", pid) for n, (task_id, pid) in enumerate(results)}
    tags.update({f"a{n}": call for n, call in enumerate(calls)})
    check(lines, tags, 50)
    actor_id, actor_pid = calls[0][1], calls[0][2]
    started = [line for line in lines if line[4] == "actor started"]
    assert [line[0] for line in started] == [str(actor_pid)]
    assert started[0][2] == actor_id
    hooks = Counter(line[0] for line in lines if line[4] == "user hook ran")
    assert set(hooks.values()) == {1}
    assert {str(pid) for _, pid in results} | {str(actor_pid)} <= set(hooks)
    assert [line[1:3] for line in lines if line[4] == "driver done"] == [["None", "None"]]
    assert stats["dropped"] == 0 and stats["written"] == stats["received"]


def test_ray_workers_ship_over_tcp_to_an_address(tmp_path: Path, ray_session: Any) -> None:
    path = tmp_path / "tcp.log"
    with mplog.setup_listener(
        path, level="INFO", fmt=RAY_FMT, listen="127.0.0.1:0", key=KEY
    ) as listener:
        ray_session(mplog_ray.install(address=listener.network_address, key=KEY))
        task = ray.remote(log_records)
        results = ray.get([task.remote(f"n{n}", 20) for n in range(6)], timeout=TIMEOUT)
        addresses = set(ray.get([ray.remote(shipping_address).remote() for _ in range(4)]))
        ray.shutdown()
    assert addresses == {listener.network_address}
    check(read(path), {f"n{n}": (t, "None", pid) for n, (t, pid) in enumerate(results)}, 20)


def restarted_pid(actor: Any) -> int | None:
    """The actor's pid once Ray has restarted it, else None."""
    try:
        return int(ray.get(actor.pid.remote(), timeout=TIMEOUT))
    except ray.exceptions.ActorUnavailableError:
        return None


def test_an_actor_restarted_by_ray_still_logs(tmp_path: Path, ray_session: Any) -> None:
    path = tmp_path / "restart.log"
    with mplog.setup_listener(path, level="INFO", fmt=RAY_FMT):
        ray_session(mplog_ray.install())
        actor = ray.remote(max_restarts=1, max_task_retries=0)(Crashy).remote()
        first = ray.get(actor.pid.remote(), timeout=TIMEOUT)
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.crash.remote(), timeout=TIMEOUT)
        second = wait_for(lambda: restarted_pid(actor), TIMEOUT, "Ray to restart the actor")
        ray.shutdown()
    assert first != second
    messages = [(line[0], line[4]) for line in read(path) if line[3] == "app.crashy"]
    assert messages[:2] == [(str(first), f"alive in {first}"), (str(first), f"crashing {first}")]
    # a call Ray refused while the actor restarted may have run there all the same
    assert set(messages[2:]) == {(str(second), f"alive in {second}")}


def test_install_merges_the_runtime_env_and_needs_a_listener() -> None:
    with pytest.raises(RuntimeError, match="setup_listener"):
        mplog_ray.install()
    with mplog.setup_listener(handlers=[logging.NullHandler()]) as listener:
        env = mplog_ray.install(runtime_env={"env_vars": {"A": "1"}})
    _context.remove_provider(mplog_ray._driver_fields)
    assert env["env_vars"] == {"A": "1"}
    hook = env["worker_process_setup_hook"]
    assert isinstance(hook, mplog_ray.SetupHook) and hook.then is None
    assert hook.route.local is not None and hook.route.local.address == listener.address
