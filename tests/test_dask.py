"""mplog.dask: every worker of a real Dask cluster logs straight into the listener."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mplog
from mplog._worker import context as _context
from tests._certs import OPENSSL, make_certs
from tests._engines import read_fields as read
from tests._engines import shipping_address
from tests._helpers import TIMEOUT, wait_for

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'mplog[dask]')"
)
mplog_dask = pytest.importorskip("mplog.dask")

ROOT = Path(__file__).resolve().parent.parent
DASK_FMT = "%(process)d|%(dask_worker)s|%(dask_key)s|%(threadName)s|%(message)s"
KEY = "dask-test-key-0123456789abcdef"


def log_records(tag: str, count: int) -> tuple[str, str, int]:
    """A task: log ``count`` numbered records; return its key, worker address and pid."""
    worker = distributed.get_worker()
    log = logging.getLogger("app.dask")
    for i in range(count):
        log.info("rec %s %d", tag, i)
    return str(distributed.worker.thread_state.key), worker.address, os.getpid()


def log_from_threads(tag: str, threads: int, count: int) -> str:
    """A task that logs from threads it starts, and once itself."""

    def run(n: int) -> None:
        for i in range(count):
            logging.getLogger("app.thread").info("thr %s %d %d", tag, n, i)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(TIMEOUT)
    logging.getLogger("app.dask").info("task %s done", tag)
    return str(distributed.worker.thread_state.key)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One real two-process cluster for this module (nanny-managed workers)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.WARNING,
    ) as local:
        yield local


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, timeout=TIMEOUT) as connected:
        connected.wait_for_workers(2, timeout=TIMEOUT)
        yield connected
    _context.remove_provider(mplog_dask._fields)


def run_tagged(client: Any, tag: str, tasks: int, count: int, **submit: Any) -> list[Any]:
    futures = [
        client.submit(log_records, f"{tag}{t}", count, key=f"{tag}-task-{t}", **submit)
        for t in range(tasks)
    ]
    return list(client.gather(futures))


def check_records(lines: list[list[str]], results: list[Any], count: int) -> None:
    """Every record of these tasks arrived once, stamped with its key, worker and pid."""
    tags = {"".join(key.rsplit("-task-", 1)): (pid, address, key) for key, address, pid in results}
    seen = Counter(line[4] for line in lines if line[4].split(" ")[1:2] in ([t] for t in tags))
    expected = {f"rec {tag} {i}" for tag in tags for i in range(count)}
    assert seen == dict.fromkeys(expected, 1), "records lost or duplicated"
    for line in lines:
        if line[4] in expected:
            pid, address, key = tags[line[4].split(" ")[1]]
            assert line[:3] == [str(pid), address, key]


def test_every_record_of_many_tasks_arrives_once(tmp_path: Path, client: Any) -> None:
    path = tmp_path / "dask.log"
    with mplog.setup_listener(path, level="INFO", fmt=DASK_FMT) as listener:
        mplog_dask.install(client)
        results = run_tagged(client, "many", 40, 25)
        logging.getLogger("app.main").info("main says done")
        stats = listener.stop()
    assert stats["dropped"] == 0
    assert stats["written"] == stats["received"] >= 40 * 25 + 1
    lines = read(path)
    check_records(lines, results, 25)
    assert len({pid for _, _, pid in results}) == 2, "both workers ran tasks"
    assert next(line[1:3] for line in lines if line[4] == "main says done") == ["None", "None"], (
        "main's records carry the Dask fields as None"
    )


def test_tasks_logging_from_threads(tmp_path: Path, client: Any) -> None:
    path = tmp_path / "threads.log"
    with mplog.setup_listener(path, level="INFO", fmt=DASK_FMT):
        mplog_dask.install(client)
        futures = [client.submit(log_from_threads, f"t{n}", 3, 20) for n in range(4)]
        keys = client.gather(futures)
    lines = read(path)
    thread_lines = [line for line in lines if line[4].startswith("thr ")]
    assert sorted(line[4] for line in thread_lines) == sorted(
        f"thr t{t} {n} {i}" for t in range(4) for n in range(3) for i in range(20)
    )
    assert {line[2] for line in thread_lines} == {"None"}, "a task's own threads have no key"
    workers = set(client.scheduler_info()["workers"])
    assert {line[1] for line in thread_lines} <= workers
    done = {line[4]: line[2] for line in lines if line[4].startswith("task ")}
    assert done == {f"task t{n} done": keys[n] for n in range(4)}


def restarted(client: Any, victim_pid: int) -> dict[str, int] | None:
    """The pids of both workers once the killed one's replacement answers, else None."""
    pids: dict[str, int] = client.run(os.getpid, on_error="ignore")
    return pids if len(pids) == 2 and victim_pid not in pids.values() else None


def test_worker_killed_and_restarted_by_its_nanny_still_logs(tmp_path: Path, client: Any) -> None:
    path = tmp_path / "restart.log"
    with mplog.setup_listener(path, level="INFO", fmt=DASK_FMT):
        mplog_dask.install(client)
        before = {address: pid for _, address, pid in run_tagged(client, "pre", 4, 5)}
        victim_pid = sorted(before.items())[0][1]
        os.kill(victim_pid, signal.SIGKILL)
        pids = wait_for(
            lambda: restarted(client, victim_pid), TIMEOUT, "the nanny to restart the worker"
        )
        results = [
            run_tagged(client, f"post{n}-", 1, 5, workers=[address], allow_other_workers=False)[0]
            for n, address in enumerate(sorted(pids))
        ]
        client.restart(timeout=TIMEOUT)
        client.wait_for_workers(2, timeout=TIMEOUT)
        after_restart = run_tagged(client, "rst", 6, 5)
    lines = read(path)
    assert {pid for _, _, pid in results} == set(pids.values())
    assert victim_pid not in {pid for _, _, pid in results}
    check_records(lines, results + after_restart, 5)
    assert not {pid for _, _, pid in after_restart} & set(pids.values()), "restart: new pids"


def test_worker_added_later_logs(tmp_path: Path, cluster: Any, client: Any) -> None:
    path = tmp_path / "scale.log"
    with mplog.setup_listener(path, level="INFO", fmt=DASK_FMT):
        mplog_dask.install(client)
        old = set(client.scheduler_info()["workers"])
        cluster.scale(3)
        client.wait_for_workers(3, timeout=TIMEOUT)
        new = sorted(set(client.scheduler_info()["workers"]) - old)
        assert len(new) == 1
        results = run_tagged(client, "late", 3, 10, workers=new, allow_other_workers=False)
        cluster.scale(2)
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, TIMEOUT, "scale down to 2")
    assert {address for _, address, _ in results} == set(new)
    check_records(read(path), results, 10)


def test_install_without_a_listener_names_the_fix(client: Any) -> None:
    with pytest.raises(RuntimeError, match="setup_listener"):
        mplog_dask.install(client)


def start_dask_worker(scheduler: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("MPLOG_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dask", "worker", scheduler, "--nthreads", "1", "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_separate_dask_worker_processes_ship_over_tcp(tmp_path: Path) -> None:
    path = tmp_path / "tcp.log"
    with (
        distributed.LocalCluster(
            n_workers=0, processes=True, dashboard_address=":0", silence_logs=logging.WARNING
        ) as scheduler_only,
        distributed.Client(scheduler_only, timeout=TIMEOUT) as client,
    ):
        workers = [start_dask_worker(scheduler_only.scheduler_address) for _ in range(2)]
        try:
            with mplog.setup_listener(
                path, level="INFO", fmt=DASK_FMT, listen="127.0.0.1:0", key=KEY
            ) as listener:
                mplog_dask.install(client, address=listener.network_address, key=KEY)
                client.wait_for_workers(2, timeout=TIMEOUT)
                addresses = client.run(shipping_address)
                results = run_tagged(client, "tcp", 8, 10)
        finally:
            _context.remove_provider(mplog_dask._fields)
            for process in workers:
                process.terminate()
            for process in workers:
                process.wait(TIMEOUT)
    assert set(map(tuple, addresses.values())) == {listener.network_address}
    assert len({pid for _, _, pid in results}) == 2
    check_records(read(path), results, 10)


def shipping_tls_ca() -> Any:
    """The CA file this worker's ShippingHandler checks the listener's certificate with."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, mplog.ShippingHandler)]
    tls = handlers[0].config.tls if handlers else None
    return None if tls is None else tls.ca


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
def test_local_cluster_workers_ship_over_tls(tmp_path: Path) -> None:
    """``install(client, address=, key=, tls=ca)``: the workers of a real LocalCluster reach a
    TLS listener over TCP (a TLS listener cuts off plaintext, so records arriving prove TLS),
    checking its certificate with the CA; every record arrives once, stamped."""
    certs = make_certs(tmp_path / "certs")
    path = tmp_path / "tls.log"
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.WARNING,
        ) as cluster,
        distributed.Client(cluster, timeout=TIMEOUT) as client,
    ):
        client.wait_for_workers(2, timeout=TIMEOUT)
        try:
            with mplog.setup_listener(
                path,
                level="INFO",
                fmt=DASK_FMT,
                listen="127.0.0.1:0",
                key=KEY,
                tls=(certs.server_cert, certs.server_key),
            ) as listener:
                access = listener.network_access
                assert access is not None and access.tls
                mplog_dask.install(client, address=access.address, key=KEY, tls=str(certs.ca))
                addresses = client.run(shipping_address)
                cas = client.run(shipping_tls_ca)
                results = run_tagged(client, "tls", 8, 10)
                stats = listener.stop()
        finally:
            _context.remove_provider(mplog_dask._fields)
    assert set(map(tuple, addresses.values())) == {access.address}
    assert set(cas.values()) == {str(certs.ca)}
    assert len({pid for _, _, pid in results}) == 2
    assert stats["network"]["tls_failed"] == 0
    check_records(read(path), results, 10)
