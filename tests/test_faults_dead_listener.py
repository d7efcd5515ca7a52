"""Fault injection: the listener process dies (SIGKILL) or hangs (SIGSTOP) under running workers.

Each scenario runs as a script, so the stderr of main and its workers can be read whole.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests import _faults
from tests._helpers import read_lines

NOTICE = re.compile(
    r"^mplog: process (?P<pid>\d+) cannot reach the log listener at .* \((?P<reason>.*)\); "
    r"its records go to stderr from now on\.$"
)

SCRIPT = """
import json, logging, os, signal, sys, time
import multiprocessing as mp
import mplog
from tests import _faults
from tests._helpers import FMT, wait_received

def burst(log, tag, first, last):
    worst = 0.0
    for i in range(first, last):
        started = time.monotonic()
        log.info("seq %s %d %d", tag, i, i)
        worst = max(worst, time.monotonic() - started)
    return worst

# After the listener stops, each worker logs 100 records (~7.7 KB): more than the 4 KiB
# stream (buffer_bytes=4096) can hold, so a frozen listener makes the calls block.
def worker(tag, killed, done, result):
    log = logging.getLogger("w")
    burst(log, tag, 0, 50)
    done.set()
    killed.wait(30)
    result.put((os.getpid(), burst(log, tag, 50, 150)))

if __name__ == "__main__":
    method, log_path, how = sys.argv[1:4]
    ctx = mp.get_context(method)
    listener = mplog.setup_listener(
        log_path, mode="process", fmt=FMT, level="INFO", block_timeout=1.0,
        buffer_bytes=4096,
    )
    killed, result = ctx.Event(), ctx.Queue()
    dones = [ctx.Event() for _ in range(2)]
    procs = [
        mplog.Process(target=worker, args=(f"w{k}", killed, dones[k], result), context=ctx)
        for k in range(2)
    ]
    for p in procs:
        p.start()
    for d in dones:
        assert d.wait(30)
    logging.getLogger("main").info("seq main 0 0")
    wait_received(listener, 101)
    os.kill(listener._runner.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    if how == "kill":
        listener._runner.join(10)
    killed.set()
    main_worst = burst(logging.getLogger("main"), "main", 1, 100)
    results = dict(result.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0, p.exitcode
    started = time.monotonic()
    stats = listener.stop(timeout=2.0)
    stop_took = time.monotonic() - started
    if how == "stop" and listener._runner.is_alive():
        os.kill(listener._runner.pid, signal.SIGCONT)
    listener._runner.join(10)
    print("RESULT " + json.dumps({
        "workers": {str(k): v for k, v in results.items()},
        "main": [os.getpid(), main_worst],
        "stop_took": stop_took,
        "stats": stats,
        "listener_alive": listener._runner.is_alive(),
    }), flush=True)
"""


def test_dead_listener(start_method: str, tmp_path: Path) -> None:
    """With the listener process SIGKILLed: no worker hangs, every later logging call returns
    at once, each process prints one notice and then its records on stderr, records the
    listener took before are in the file, and stop(timeout=2) returns promptly with an
    "error" (the listener process is gone)."""
    _check(start_method, tmp_path, "kill")


def test_frozen_listener(tmp_path: Path) -> None:
    """With the listener process frozen (SIGSTOP) and block_timeout=1: logging calls give up
    after about block_timeout, each process prints one notice and then its records on stderr,
    and stop(timeout=2) gives up on the frozen listener within timeout + 5 s + a few seconds
    to end it, instead of waiting for it a second time."""
    _check("spawn", tmp_path, "stop")


def _check(start_method: str, tmp_path: Path, how: str) -> None:
    log_path = tmp_path / "app.log"
    done = _faults.run_script(tmp_path, SCRIPT, start_method, str(log_path), how, timeout=90)
    assert done.returncode == 0, done.stderr
    result = _faults.json_line(done.stdout, "RESULT ")
    # A frozen listener takes block_timeout to be declared stuck, while the kernel buffer
    # first fills; a dead one refuses at once.
    bound = 0.5 if how == "kill" else 3.0
    for pid, worst in result["workers"].items():
        assert worst < bound, f"worker {pid}: a logging call took {worst:.2f}s"
    assert result["main"][1] < bound
    assert "error" in result["stats"], result["stats"]
    assert not result["listener_alive"]
    assert "mplog: the log listener failed" in done.stderr

    in_file = _faults.seq_by_tag(read_lines(log_path))
    for pid in result["workers"]:
        tag = next(t for t, items in in_file.items() if items and items[0][0] == int(pid))
        _faults.assert_complete({tag: in_file[tag][:50]}, tag, 50)
    assert [i for _, i in in_file["main"]][:1] == [0]

    notices: Counter[int] = Counter()
    on_stderr: dict[str, list[int]] = {}
    for line in done.stderr.splitlines():
        match = NOTICE.match(line)
        if match:
            notices[int(match["pid"])] += 1
            continue
        found = re.search(r" (?:w|main) INFO seq (\S+) \d+ (\d+)$", line)
        if found:
            on_stderr.setdefault(found[1], []).append(int(found[2]))
    expected_pids = {int(p) for p in result["workers"]} | {result["main"][0]}
    assert dict(notices) == dict.fromkeys(expected_pids, 1), done.stderr[-3000:]
    if how == "kill":
        # A dead listener: every record after the kill is on stderr, in order.
        for tag in ("w0", "w1"):
            assert on_stderr[tag] == list(range(50, 150)), tag
        assert on_stderr["main"] == list(range(1, 100))
    else:
        # A frozen listener: what fit in the stream before it filled waits there (and is
        # lost with the listener); every record after the notice is on stderr, in order.
        for tag, end in (("w0", 150), ("w1", 150), ("main", 100)):
            seen = on_stderr.get(tag, [])
            assert seen, f"{tag}: nothing on stderr after the notice"
            assert seen == list(range(end - len(seen), end)), tag
    # stop(timeout=2): a dead listener is noticed at once; a frozen one after the reply's
    # deadline (timeout + 5 s), and ending it should take a moment, not another wait.
    assert result["stop_took"] < (2.0 if how == "kill" else 10.0), result["stop_took"]
