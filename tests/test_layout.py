"""The package's layout keeps its promises: the worker side stands alone, no import cycles,
no module grows past ~400 lines without saying why at its top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mplog"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The mplog modules ``path`` imports when it is imported (not under TYPE_CHECKING, not
    inside functions)."""
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mplog":
                found.update(f"mplog.{alias.name}" for alias in node.names)
            elif node.module.startswith("mplog."):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mplog."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_the_worker_side_imports_nothing_of_the_listener_side() -> None:
    """Spawned workers start fast: nothing under mplog._worker imports the listener, the
    outputs, setup or the pool wrappers."""
    graph = _graph()
    forbidden = ("mplog._listener", "mplog._outputs", "mplog._setup", "mplog._pools")
    for name, imported in graph.items():
        if name.startswith("mplog._worker"):
            bad = sorted(m for m in imported if m.startswith(forbidden))
            assert not bad, f"{name} imports {bad}"


def test_no_import_cycles() -> None:
    """No module imports, directly or not, a module that imports it."""
    graph = _graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    cycles = [name for name in graph if reaches(name, name, set())]
    assert not cycles, f"modules in import cycles: {sorted(cycles)}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    """A module over MAX_LINES lines says why in its docstring."""
    lines = len(path.read_text("utf-8").splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text("utf-8"))) or ""
    assert lines <= MAX_LINES or "lines because" in docstring, f"{path.name}: {lines} lines"


def _loaded_by_initializer(baseline: str) -> tuple[list[str], list[str]]:
    """In a fresh interpreter that imported ``baseline`` and logging (what a pool's worker
    loads anyway): the mplog modules and the other modules that unpickling what the pool
    wrappers send every child adds (its initializer, mplog._worker.initializer; numbered
    tasks, mplog._worker.tasks)."""
    code = (
        f"import sys, logging, {baseline}\n"
        "before = set(sys.modules)\n"
        "import mplog._worker.initializer, mplog._worker.tasks\n"
        "new = set(sys.modules) - before\n"
        "print(' '.join(sorted(m for m in new if m.startswith('mplog'))))\n"
        "print(' '.join(sorted(m for m in new if not m.startswith('mplog'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PACKAGE.parent,
        check=True,
    )
    ours, others = result.stdout.split("\n")[:2]
    return ours.split(), others.split()


#: What mplog's worker side once imported and a spawned worker paid for at every start
#: (typing 2 ms, dataclasses with inspect 5 ms, hashlib loading OpenSSL 2 ms, ...); none of
#: them is needed to log.
HEAVY = (
    "typing",
    "dataclasses",
    "inspect",
    "hashlib",
    "ssl",
    "hmac",
    "ipaddress",
    "tempfile",
    "json",
    "pathlib",
    "concurrent.futures",
    "multiprocessing.pool",
    "multiprocess",
    "psutil",
)


@pytest.mark.parametrize(
    "baseline", ["concurrent.futures.process", "multiprocessing.pool", "multiprocessing"]
)
def test_a_spawned_worker_loads_only_the_worker_side(baseline: str) -> None:
    """What a spawned child (of a ProcessPoolExecutor, a Pool, a Process) imports to run
    mplog's initializer is the worker side only: no listener, output, setup or pool wrapper
    module, and no heavy standard-library module its pool does not load anyway."""
    ours, others = _loaded_by_initializer(baseline)
    assert "mplog._worker.handler" in ours
    wrong = [m for m in ours if m.startswith(("mplog._listener", "mplog._outputs", "mplog._setup"))]
    assert not wrong and "mplog._pools" not in ours, ours
    # The line plan's code is loaded when a listener sends a plan, not by every worker; the
    # plan's and TLS's settings only by the listener's side and network senders.
    # Nor the frame reader (a worker needs it only for a level change the listener pushes)
    # or the exceptions' summary (for a record with an exception, on the record path).
    rare = {
        "mplog._worker.lines",
        "mplog._lineplan",
        "mplog._tls",
        "mplog._frames",
        "mplog._exceptions",
    }
    assert not rare & set(ours), ours
    heavy = [m for m in others if m.startswith(HEAVY)]
    assert not heavy, f"a spawned worker now imports {heavy}: keep them out of the worker side"
