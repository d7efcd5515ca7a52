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


def test_a_spawned_worker_loads_only_the_worker_side() -> None:
    """What a spawned pool worker imports to run mplog's initializer (mplog._pools) pulls in
    no listener, output or setup module."""
    code = (
        "import sys, mplog._pools\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('mplog'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PACKAGE.parent,
        check=True,
    )
    loaded = result.stdout.split()
    assert "mplog._worker.handler" in loaded
    heavy = [
        m for m in loaded if m.startswith(("mplog._listener", "mplog._outputs", "mplog._setup"))
    ]
    assert not heavy, heavy
