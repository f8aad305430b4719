"""The shape of the code base: no import cycles, no oversized rooms.

These read the source with ``ast`` (nothing is imported), so a lazy import inside a function counts like any
other: a cycle hidden behind one still makes the modules impossible to read, test or move one at a time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assets", "connectors", "connectors_site")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: A longer function is allowed when its docstring says why, starting a line with this.
LONG_FUNCTION_MARK = "Long because"


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def _imported_names(name: str, path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (top level or inside a function)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # ``from package import module`` names the module; ``from module import function`` the module.
            names.update(f"{base}.{alias.name}" for alias in node.names)
            if node.module:
                names.add(base)
    return names


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (the nearest existing module of each dotted name)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported_names(name, path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            # A package's __init__ is not a dependency of the modules inside it that import their siblings.
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_lazy_imports_and_finds_cycles(tmp_path):
    module = tmp_path / "worker.py"
    module.write_text("def retry():\n    from .tasks import enqueue\n")
    assert "connectors.tasks" in _imported_names("connectors.worker", module)
    graph = {"a.inbox": {"a.tasks"}, "a.tasks": {"a.worker"}, "a.worker": {"a.inbox"}, "a.views": {"a.inbox"}}
    assert cycles(graph) == [["a.inbox", "a.tasks", "a.worker"]]


def test_no_import_cycle_among_the_project_modules():
    graph = import_graph()
    assert len(graph) > 50, "the walk found the project's modules"
    assert cycles(graph) == []


def _long_functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            docstring = ast.get_docstring(node) or ""
            if length > MAX_FUNCTION_LINES and LONG_FUNCTION_MARK not in docstring:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_and_functions_stay_small(name):
    path = _modules()[name]
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by job"
    assert list(_long_functions(path)) == [], (
        f"split these into named steps, or say why in the docstring ('{LONG_FUNCTION_MARK} …')"
    )
