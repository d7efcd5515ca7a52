"""Run CPython's process-pool tests (the ones this interpreter ships) with mplog's wrappers.

``python -m tests.cpython.runner futures fork --report out.json`` starts an mplog listener,
puts ``mplog.ProcessPoolExecutor`` (suite ``futures``: ``test.test_concurrent_futures``) or
``mplog.Pool`` and ``mplog.Process`` (suite ``multiprocessing``: ``test._test_multiprocessing``
as ``test.test_multiprocessing_<method>`` installs it) where the tests take the standard
library's, runs the selected tests with unittest and writes every outcome as JSON.
``--wrappers stdlib`` runs the same tests unchanged and without a listener: the baseline.
Arguments after the options select tests by id prefix. The tests are the interpreter's own;
nothing of CPython's is copied here. See ``tests/cpython/test_suites.py`` for the selection's
reasons and what is compared.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import faulthandler
import fnmatch
import importlib
import importlib.util
import json
import signal
import sys
import tempfile
import time
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

SUITES = ("futures", "multiprocessing")
START_METHODS = ("fork", "spawn", "forkserver")

#: The mixins of test.test_concurrent_futures whose process-pool classes run: its
#: create_executor_tests() makes one class per start method of each. Left out: WaitTests and
#: AsCompletedTests (they test the module's wait() and as_completed() functions, with ~15 s of
#: sleeps per start method; the executor only supplies futures there).
FUTURES_MIXINS = (
    "ProcessPoolExecutorTest",
    "InitializerMixin",
    "FailingInitializerMixin",
    "ProcessPoolShutdownTest",
    "ExecutorDeadlockTest",
)
#: The modules those mixins live in since 3.12, when test_concurrent_futures became a package.
FUTURES_SUBMODULES = ("test_process_pool", "test_init", "test_shutdown", "test_deadlock")
#: The classes of test._test_multiprocessing that run ("processes" flavour).
MULTIPROCESSING_CLASSES = (
    "WithProcessesTestPool",
    "WithProcessesTestPoolWorkerErrors",
    "WithProcessesTestPoolWorkerLifetime",
    "WithProcessesTestProcess",
)
#: Tests left out (fnmatch patterns on the test id), and why.
EXCLUDED = {
    "*.ProcessPool*ProcessPoolExecutorTest.test_map_timeout": (
        "sleeps 6 s to see map()'s timeout expire; mplog passes timeout= through unchanged"
    ),
    "*.ProcessPool*ExecutorDeadlockTest.test_gh105829_should_not_deadlock_if_wakeup_pipe_full": (
        "fills the executor's internal wakeup pipe for 3 s; mplog does not touch it"
    ),
    **dict.fromkeys(
        [
            "*.ProcessPool*ProcessPoolShutdownTest.test_interpreter_shutdown",
            "*.ProcessPool*ProcessPoolShutdownTest.test_submit_after_interpreter_shutdown",
            "*.ProcessPool*ProcessPoolShutdownTest.test_cancel_futures_wait_false",
        ],
        "runs the standard library's executor in a fresh interpreter (assert_python_ok): "
        "mplog is not involved",
    ),
    "*.WithProcessesTestProcess.test_many_processes": (
        "starts and kills 200 processes (7 s under forkserver); tests/test_faults_killed_worker"
        " covers killed children"
    ),
}


if sys.version_info < (3, 13, 1):
    # Seen hanging here with 3.13.0 (forkserver), without mplog's code on the stack.
    EXCLUDED["*.ProcessPool*ProcessPoolShutdownTest.test_processes_terminate"] = (
        "its calls fail to pickle, and before 3.13.1 the standard library's shutdown can then "
        "deadlock (CPython gh-125451)"
    )


def _module_name(suite: str, start_method: str) -> str:
    if suite == "futures":
        return "test.test_concurrent_futures"
    return f"test.test_multiprocessing_{start_method}"


def unavailable(suite: str, start_method: str) -> str | None:
    """Why this interpreter cannot run ``suite``, or None. Imports nothing of the suite."""
    module = _module_name(suite, start_method)
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # no test package at all
        found = False
    if found:
        return None
    return (
        f"Python {sys.version.split()[0]} ({sys.base_prefix}) does not ship {module}: its test "
        "package is missing or partial"
    )


def use_mplog_wrappers(suite: str) -> None:
    """Put mplog's wrappers where the tests take the standard library's (before the test
    modules are imported: their classes copy ``futures.ProcessPoolExecutor``)."""
    import mplog

    if suite == "futures":
        concurrent.futures.ProcessPoolExecutor = mplog.ProcessPoolExecutor  # type: ignore[misc]
    else:
        from test import _test_multiprocessing

        mixin = _test_multiprocessing.ProcessesMixin
        mixin.Pool = staticmethod(mplog.Pool)
        mixin.Process = staticmethod(mplog.Process)


def _futures_classes(start_method: str) -> Iterator[type]:
    package = importlib.import_module(_module_name("futures", start_method))
    modules: list[ModuleType] = [package]
    if hasattr(package, "__path__"):
        modules = [importlib.import_module(f"{package.__name__}.{n}") for n in FUTURES_SUBMODULES]
    for module in modules:
        for cls in vars(module).values():
            if (
                isinstance(cls, type)
                and issubclass(cls, unittest.TestCase)
                and getattr(cls, "ctx", None) == start_method
                and cls.__mro__[1].__name__ in FUTURES_MIXINS
            ):
                yield cls


def _multiprocessing_classes(start_method: str) -> Iterator[type]:
    module = importlib.import_module(_module_name("multiprocessing", start_method))
    if hasattr(module, "__path__"):  # 3.13+: a package; the "processes" tests are one module
        module = importlib.import_module(f"{module.__name__}.test_processes")
    for name in MULTIPROCESSING_CLASSES:
        yield getattr(module, name)


def exclusion(test_id: str) -> str | None:
    """Why the test is left out (see :data:`EXCLUDED`), or None."""
    for pattern, reason in EXCLUDED.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return reason
    return None


def build_suite(
    suite: str, start_method: str, prefixes: list[str], excluded: dict[str, str]
) -> unittest.TestSuite:
    """The selected tests of ``suite`` minus :data:`EXCLUDED` (noted in ``excluded``)."""
    source = _futures_classes if suite == "futures" else _multiprocessing_classes
    tests = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in source(start_method):
        for test in loader.loadTestsFromTestCase(cls):
            test_id = test.id()
            if prefixes and not any(test_id == p or test_id.startswith(p + ".") for p in prefixes):
                continue
            reason = exclusion(test_id)
            if reason is None:
                tests.addTest(test)
            else:
                excluded[test_id] = reason
    return tests


class Recorder(unittest.TextTestResult):
    """A text result that also keeps each test's outcome ("passed", "failed", "skipped"),
    its detail (traceback or skip reason) and its duration, by test id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.seconds: dict[str, float] = {}
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._started = time.monotonic()

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        self.seconds[test.id()] = round(time.monotonic() - self._started, 2)
        self.outcomes.setdefault(test.id(), ("passed", ""))

    def _note(self, test: Any, outcome: str, detail: str) -> None:
        test_id = getattr(test, "test_case", test).id()  # a subtest counts for its test
        if self.outcomes.get(test_id, ("passed",))[0] == "passed":
            self.outcomes[test_id] = (outcome, detail)

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._note(test, "failed", self.failures[-1][1])

    def addError(self, test: Any, err: Any) -> None:  # also setUpModule/setUpClass errors
        super().addError(test, err)
        self._note(test, "failed", self.errors[-1][1])

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._note(subtest, "failed", self._exc_info_to_string(err, test))

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._note(test, "skipped", reason)

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._note(test, "failed", "unexpected success")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected tests with the chosen wrappers; return the report."""
    from test import support

    support.verbose = args.verbosity > 1  # quiet, as under regrtest
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "suite": args.suite,
        "start_method": args.start_method,
        "wrappers": args.wrappers,
        "excluded": {},
    }
    listener = None
    if args.wrappers == "mplog":
        import mplog

        listener = mplog.setup_listener(args.log, level="INFO")
        use_mplog_wrappers(args.suite)
    tests = build_suite(args.suite, args.start_method, args.select, report["excluded"])
    stream = sys.stderr
    result = unittest.TextTestRunner(stream, verbosity=args.verbosity, resultclass=Recorder).run(
        tests
    )
    assert isinstance(result, Recorder)
    if listener is not None:
        stats = listener.stop()
        report["listener"] = {k: stats[k] for k in ("received", "workers_seen", "workers_dead")}
    report["outcomes"] = result.outcomes
    report["seconds"] = result.seconds
    return report


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, write the report; 0 unless the run itself broke."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=SUITES)
    parser.add_argument("start_method", choices=START_METHODS)
    parser.add_argument("--wrappers", choices=("mplog", "stdlib"), default="mplog")
    parser.add_argument("--report", type=Path, required=True, help="where to write the JSON")
    parser.add_argument("--log", type=Path, help="the listener's log file (default: a temp dir)")
    parser.add_argument("--verbosity", type=int, default=1)
    parser.add_argument("select", nargs="*", help="test id prefixes (default: all)")
    args = parser.parse_intermixed_args(argv)
    # Not dump_traceback_later: CPython's tests set and cancel their own.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    with tempfile.TemporaryDirectory(prefix="mplog-cpython-") as tmp:
        args.log = args.log or Path(tmp, "mplog.log")
        report = run(args)
    args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
