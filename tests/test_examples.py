"""The examples/ scripts: each runs as a user would run it and writes exactly what it says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests._helpers import dill_cannot_pickle_functions

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: mplog's DEFAULT_FORMAT: "asctime processName[pid] name levelname message".
DEFAULT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<process>\S+)\[(?P<pid>\d+)\] "
    r"(?P<name>\S+) (?P<level>[A-Z]+) (?P<message>.*)$"
)


def run_example(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<script>`` with ``args`` in a fresh interpreter; it must succeed."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result


def parse(path: Path, pattern: re.Pattern[str]) -> list[dict[str, str]]:
    """Every line of ``path`` parsed with ``pattern``; any line that does not match fails."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{path} ends in the middle of a line"
    lines = []
    for line in text.splitlines():
        match = pattern.match(line)
        assert match is not None, f"{path.name}: unexpected line {line!r}"
        lines.append(match.groupdict())
    return lines


def test_multiple_modules(tmp_path: Path) -> None:
    """Main, the auxiliary module and the task module all log into spam.log, DEBUG included,
    with each record under its own module's logger and from the process that logged it."""
    result = run_example("multiple_modules.py", str(tmp_path))
    path = tmp_path / "spam.log"
    assert f"wrote {path} (35 lines)" in result.stdout
    lines = parse(path, DEFAULT_LINE)
    main = [line for line in lines if line["process"] == "MainProcess"]
    workers = [line for line in lines if line["process"] != "MainProcess"]
    assert Counter(line["name"] for line in main) == {
        "spam_application": 7,
        "spam_application.auxiliary.Auxiliary": 3,
        "spam_application.auxiliary": 1,
    }
    assert Counter(line["name"] for line in workers) == {
        "spam_application.tasks": 8,
        "spam_application.auxiliary.Auxiliary": 12,
        "spam_application.auxiliary": 4,
    }
    assert Counter(line["level"] for line in workers) == {"INFO": 20, "DEBUG": 4}
    assert len({line["pid"] for line in main}) == 1
    assert not {line["pid"] for line in main} & {line["pid"] for line in workers}
    items = sorted(line["message"] for line in workers if line["message"].startswith("proc"))
    assert items == [f"processing item {n}" for n in range(4)]
    assert main[-1]["message"] == "pool results: [2, 2, 2, 2]"


def test_console_and_file(tmp_path: Path) -> None:
    """The file gets every level in the detailed format; the console (stderr, written by the
    listener process) gets exactly the WARNING and ERROR records, in the short format."""
    result = run_example("console_and_file.py", str(tmp_path))
    path = tmp_path / "myapp.log"
    assert f"wrote {path} (13 lines;" in result.stdout
    detailed = re.compile(
        r"^\d\d-\d\d \d\d:\d\d (?P<process>\S+) +(?P<name>\S+) +(?P<level>[A-Z]+) +(?P<msg>.+)$"
    )
    lines = parse(path, detailed)
    assert Counter(line["level"] for line in lines) == {
        "DEBUG": 3, "INFO": 4, "WARNING": 3, "ERROR": 3,
    }  # fmt: skip
    assert lines[0]["process"] == "MainProcess"
    assert lines[0]["msg"] == "Jackdaws love my big sphinx of quartz."
    assert all(line["process"].startswith("SpawnProcess-") for line in lines[1:])
    expected_console = sorted(
        f"myapp.area2 : {level:<8} {text} (task {task})"
        for task in range(3)
        for level, text in (
            ("WARNING", "Jail zesty vixen who grabbed pay from quack."),
            ("ERROR", "The five boxing wizards jump quickly."),
        )
    )
    assert sorted(result.stderr.splitlines()) == expected_console


def test_dictconfig_routing(tmp_path: Path) -> None:
    """foo and its children go to foo.log only (propagate False); the rest goes to app.log,
    and its ERROR and CRITICAL records also to errors.log."""
    result = run_example("dictconfig_routing.py", str(tmp_path))
    for name, count in (("app.log", 46), ("foo.log", 46), ("errors.log", 18)):
        assert f"wrote {tmp_path / name} ({count} lines)" in result.stdout
    line = re.compile(
        r"^\S+ \S+ (?P<name>\S+) +(?P<level>[A-Z]+) +(?P<process>\S+) +(?P<message>.+)$"
    )
    app, foo, errors = (parse(tmp_path / n, line) for n in ("app.log", "foo.log", "errors.log"))
    assert Counter(r["name"] for r in app) == {"spam": 16, "spam.ham": 15, "spam.ham.eggs": 15}
    assert Counter(r["name"] for r in foo) == {"foo": 16, "foo.bar": 15, "foo.bar.baz": 15}
    assert Counter(r["name"] for r in errors) == {"spam": 6, "spam.ham": 6, "spam.ham.eggs": 6}
    levels = {"DEBUG": 9, "WARNING": 9, "ERROR": 9, "CRITICAL": 9}
    assert Counter(r["level"] for r in app) == {**levels, "INFO": 10}
    assert Counter(r["level"] for r in foo) == {**levels, "INFO": 10}
    assert Counter(r["level"] for r in errors) == {"ERROR": 9, "CRITICAL": 9}
    assert app[0]["message"] == "main: starting 3 tasks"
    assert foo[-1]["message"] == "main: done"


def test_threads_and_processes(tmp_path: Path) -> None:
    """Every thread of main, of two mplog.Process children and of mplog.Pool tasks delivers
    its five records once each, in order, tagged with the right process and thread names."""
    result = run_example("threads_and_processes.py", str(tmp_path))
    path = tmp_path / "threads.log"
    assert f"wrote {path} (72 lines)" in result.stdout
    line = re.compile(
        r"^(?P<process>\S+) +(?P<thread>\S+) +(?P<name>\S+) +(?P<level>[A-Z]+) +(?P<message>.+)$"
    )
    lines = parse(path, line)
    chatter = [r for r in lines if r["name"] == "chatter"]
    assert [r["message"] for r in lines if r["name"] == "main"] == [
        "starting threads, processes and a pool",
        "all done",
    ]
    by_thread: dict[str, list[str]] = {}
    for r in chatter:
        assert r["level"] == "DEBUG"
        assert r["message"].startswith(f"Hi from {r['thread']}, record ")
        by_thread.setdefault(r["thread"], []).append(r["message"].rsplit(" ", 1)[1])
    labels = ["main", "child0", "child1", "task0", "task1", "task2", "task3"]
    assert sorted(by_thread) == sorted(f"{p}-T{i}" for p in labels for i in range(2))
    assert all(numbers == ["0", "1", "2", "3", "4"] for numbers in by_thread.values())
    process_of = {r["thread"]: r["process"] for r in chatter}
    assert {process_of["main-T0"], process_of["main-T1"]} == {"MainProcess"}
    assert process_of["child0-T0"] != process_of["child1-T0"]
    assert all(process_of[f"child{c}-T0"].startswith("SpawnProcess-") for c in range(2))
    assert all(process_of[f"task{t}-T0"].startswith("SpawnPoolWorker-") for t in range(4))


def test_configure_by_hand(tmp_path: Path) -> None:
    """Plain spawn children configured with configure_worker deliver their records, and the
    level main set on example.noisy (ERROR) filters their INFO records as it would in main."""
    result = run_example("configure_by_hand.py", str(tmp_path))
    path = tmp_path / "by_hand.log"
    assert f"wrote {path} (10 lines)" in result.stdout
    lines = parse(path, DEFAULT_LINE)
    assert lines[-1]["message"] == "children exited with [0, 0, 0]"
    children = lines[:-1]
    assert not any("filtered out" in r["message"] for r in lines)
    assert Counter((r["name"], r["level"]) for r in children) == {
        ("example.child", "INFO"): 3,
        ("example.child", "WARNING"): 3,
        ("example.noisy", "ERROR"): 3,
    }
    pids = {r["pid"] for r in children}
    assert len(pids) == 3
    for r in children:
        if r["name"] == "example.child" and r["level"] == "INFO":
            assert r["message"].endswith(f"pid {r['pid']}")


def test_example_without_directory_uses_a_temp_dir() -> None:
    """Without an argument an example writes into a new temporary directory and says where."""
    result = run_example("configure_by_hand.py")
    match = re.search(r"^wrote (?P<path>.+) \(10 lines\)$", result.stdout, re.MULTILINE)
    assert match is not None, result.stdout
    path = Path(match["path"])
    try:
        assert path.is_file()
        assert path.parent.name.startswith("mplog-example-")
    finally:
        shutil.rmtree(path.parent)


def test_network(tmp_path: Path) -> None:
    """A separate program logs into a listen= listener with mplog.connect, and so does its
    pool; every line says which host it came from."""
    result = run_example("network.py", str(tmp_path))
    path = tmp_path / "network.log"
    assert f"wrote {path} (8 lines)" in result.stdout
    line = re.compile(
        r"^(?P<host>\S+) (?P<process>\S+)\[(?P<pid>\d+)\] (?P<name>\S+) \w+ (?P<message>.*)$"
    )
    lines = parse(path, line)
    assert len({r["host"] for r in lines}) == 1
    assert Counter(r["name"] for r in lines) == {
        "example.listener": 2,
        "example.sender": 2,
        "example.sender.task": 4,
    }
    assert lines[-1]["message"] == "network connections cut off: 0"
    assert "squares: [0, 1, 4, 9]" in {r["message"] for r in lines}


def test_serve(tmp_path: Path) -> None:
    """mplog serve with three sender programs; after mv + SIGHUP the second round goes to a
    new app.log, and SIGTERM's summary counts every record."""
    result = run_example("serve.py", str(tmp_path))
    assert "app.log.1: 9 lines" in result.stdout
    assert "app.log: 9 lines" in result.stdout
    assert re.search(r"stopped; 18 records from \d+ processes on 1 host, 18 written", result.stdout)
    line = re.compile(
        r"^\S+ \S+ (?P<host>\S+) (?P<process>\S+)\[(?P<pid>\d+)\] (?P<name>\S+) \w+ "
        r"(?P<message>.*)$"
    )
    before = parse(tmp_path / "app.log.1", line)
    after = parse(tmp_path / "app.log", line)
    assert {r["message"].split()[0] for r in before} == {"before-rotation"}
    assert {r["message"].split()[0] for r in after} == {"after-rotation"}
    assert Counter(r["name"] for r in before + after) == {
        f"example.{name}": 6 for name in ("web", "worker", "cron")
    }


def test_dask_cluster(tmp_path: Path) -> None:
    """Every worker of a LocalCluster logs into dask.log, each task's record with its key
    and its worker's address; main's records have the Dask fields as None."""
    pytest.importorskip("distributed", reason="dask.distributed is not installed (mplog[dask])")
    result = run_example("dask_cluster.py", str(tmp_path))
    path = tmp_path / "dask.log"
    assert f"wrote {path} (7 lines)" in result.stdout
    line = re.compile(
        r"^(?P<worker>\S+) (?P<key>\S+) (?P<process>.+?) (?P<name>example\S*) \w+ (?P<message>.*)$"
    )
    lines = parse(path, line)
    tasks = [r for r in lines if r["name"] == "example.dask.task"]
    assert sorted((r["key"], r["message"]) for r in tasks) == [
        (f"square-{n}", f"squaring {n}") for n in range(6)
    ]
    assert all(r["worker"].startswith("tcp://") for r in tasks)
    assert len({r["worker"] for r in tasks}) <= 2
    last = lines[-1]
    assert (last["worker"], last["key"], last["message"]) == (
        "None",
        "None",
        "squares: [0, 1, 4, 9, 16, 25]",
    )


def test_ray_tasks(tmp_path: Path) -> None:
    """Every Ray task and actor call logs into ray.log with its task id (and actor id), and
    the driver's last line is there although it shut Ray down at once."""
    pytest.importorskip("ray", reason="Ray is not installed (no wheel for this Python)")
    result = run_example("ray_tasks.py", str(tmp_path))
    path = tmp_path / "ray.log"
    assert f"wrote {path} (9 example lines)" in result.stdout
    line = re.compile(r"^(?P<task>\S+) (?P<actor>\S+) (?P<name>\S+) \w+ (?P<message>.*)$")
    lines = [r for r in parse(path, line) if r["name"].startswith("example.ray")]
    tasks = [r for r in lines if r["name"] == "example.ray.task"]
    assert sorted(r["message"] for r in tasks) == [f"squaring {n}" for n in range(4)]
    assert all(r["task"] != "None" and r["actor"] == "None" for r in tasks)
    assert len({r["task"] for r in tasks}) == 4
    actor = [r for r in lines if r["name"] == "example.ray.actor"]
    assert [r["message"] for r in actor] == [f"total is now {n}" for n in (0, 1, 5, 14)]
    assert len({r["actor"] for r in actor}) == 1 and actor[0]["actor"] != "None"
    assert (lines[-1]["task"], lines[-1]["actor"], lines[-1]["message"]) == (
        "None",
        "None",
        "squares [0, 1, 4, 9], running totals [0, 1, 5, 14]",
    )


def test_network_outage(tmp_path: Path) -> None:
    """A separate program logs through a listener restart: the file holds each of its 1,000
    records once, in order, some written by each listener."""
    result = run_example("network_outage.py", str(tmp_path))
    path = tmp_path / "outage.log"
    match = re.search(
        rf"^wrote {re.escape(str(path))} \(1000 lines\): all 1000 records once, in order "
        r"\((?P<before>\d+) written before the restart, (?P<after>\d+) after\)$",
        result.stdout,
        re.MULTILINE,
    )
    assert match is not None, result.stdout
    assert int(match["before"]) > 0 and int(match["after"]) > 0
    assert int(match["before"]) + int(match["after"]) == 1000
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(n) for n in range(1000)]
    assert "reconnected to the log listener" in result.stderr


def test_joblib_parallel(tmp_path: Path) -> None:
    """After mplog.joblib.install(), two loky Parallel calls (the second reusing the first's
    workers) and a multiprocessing-backend one deliver every record, from their workers."""
    pytest.importorskip("joblib", reason="joblib is not installed (the joblib extra)")
    result = run_example("joblib_parallel.py", str(tmp_path))
    path = tmp_path / "joblib.log"
    assert f"wrote {path} (13 lines)" in result.stdout
    lines = parse(path, DEFAULT_LINE)
    workers = [line for line in lines if line["process"] != "MainProcess"]
    assert sorted(r["message"] for r in workers if r["name"] == "example.square") == [
        f"squaring {n}" for n in range(8)
    ]
    assert sorted(r["message"] for r in workers if r["name"] == "example.cube") == [
        f"cubing {n}" for n in range(4)
    ]
    loky = {r["process"].split("-")[0] for r in workers[:8]}
    assert loky == {"LokyProcess"}
    assert lines[-1]["message"] == "results: [0, 1, 4, 9] [0, 1, 8, 27] [16, 25, 36, 49]"


def test_pathos_pool(tmp_path: Path) -> None:
    """A lambda of two arguments mapped by mplog.pathos.ProcessPool logs from spawned
    workers into the listener."""
    pytest.importorskip("pathos", reason="pathos is not installed (the pathos extra)")
    problem = dill_cannot_pickle_functions()
    if problem is not None:
        pytest.skip(problem)
    result = run_example("pathos_pool.py", str(tmp_path))
    path = tmp_path / "pathos.log"
    assert f"wrote {path} (4 lines)" in result.stdout
    lines = parse(path, DEFAULT_LINE)
    workers = lines[:-1]
    assert sorted(r["message"] for r in workers) == ["2 ** 3", "3 ** 2", "4 ** 1"]
    assert all(r["process"].startswith("SpawnPoolWorker-") for r in workers)
    assert lines[-1]["message"] == "powers: [8, 9, 4]"


def test_celery_worker(tmp_path: Path) -> None:
    """The example's celery worker (prefork, 2 processes) writes its own records and its
    pool processes' task records into one file, and the warm shutdown loses none."""
    pytest.importorskip("celery", reason="Celery is not installed (the celery extra)")
    result = run_example("celery_worker.py", str(tmp_path))
    path = tmp_path / "celery.log"
    assert f"wrote {path} (" in result.stdout
    assert ", 4 from the tasks)" in result.stdout
    lines = parse(path, DEFAULT_LINE)
    adds = [line for line in lines if line["name"] == "example.add"]
    assert sorted(line["message"] for line in adds) == [f"adding {n} + {n}" for n in range(4)]
    assert all(line["process"].startswith("ForkPoolWorker-") for line in adds)
    main = {line["pid"] for line in lines if line["process"] == "MainProcess"}
    assert len(main) == 1 and not main & {line["pid"] for line in adds}
    succeeded = [line for line in lines if line["name"] == "celery.app.trace"]
    assert len(succeeded) == 4
