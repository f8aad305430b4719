"""The identification engine stays pure: no Django, no DRF, no other part of the project, not even lazily.

That is what lets it be tested without a database and give the same answer in any worker (see the package
docstring). The first tests read the source, so an import hidden inside a function is caught before it runs; the
last one imports the package in a fresh interpreter and looks at what got loaded.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "assets.engine"
PACKAGE_DIR = ROOT / "assets" / "engine"
#: Top-level names the engine must never import: the frameworks, and every package or module of this project.
FORBIDDEN_ROOTS = frozenset(
    {"django", "rest_framework"}
    | {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}
    | {path.stem for path in ROOT.glob("*.py")}
)
#: Calls that import by name at run time.
DYNAMIC_IMPORTS = frozenset({"__import__", "import_module"})


def imported_modules(source: str, package: str) -> list[str]:
    """Every module a source file of ``package`` (dotted name) imports, anywhere in it, relative imports
    resolved; a call that imports by name shows as ``<dynamic import>``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(target)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in DYNAMIC_IMPORTS:
                found.append("<dynamic import>")
    return found


def forbidden(imported: str) -> bool:
    if imported == "<dynamic import>":
        return True
    if imported == PACKAGE or imported.startswith(PACKAGE + "."):
        return False
    return imported.split(".")[0] in FORBIDDEN_ROOTS


def engine_files() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def package_of(path: Path) -> str:
    return ".".join(path.parent.relative_to(ROOT).parts)


def test_the_package_has_modules_to_check():
    names = {path.relative_to(PACKAGE_DIR).as_posix() for path in engine_files()}
    assert {"__init__.py", "records.py", "normalize.py", "identify.py", "reconcile.py"} <= names


@pytest.mark.parametrize("path", engine_files(), ids=lambda path: path.relative_to(PACKAGE_DIR).as_posix())
def test_engine_module_imports_nothing_from_django_or_the_project(path):
    imported = imported_modules(path.read_text(), package_of(path))
    assert [name for name in imported if forbidden(name)] == []


@pytest.mark.parametrize(
    "source",
    [
        "import django",
        "from django.db import models",
        "def later():\n    from rest_framework import serializers",
        "from assets.models import Asset",
        "from ..models import Asset",
        "from connectors import parsers",
        "import connectors_site.settings",
        "import importlib\nimportlib.import_module('django')",
    ],
)
def test_the_check_catches_what_it_is_meant_to(source):
    assert any(forbidden(name) for name in imported_modules(source, PACKAGE))


@pytest.mark.parametrize(
    "source",
    ["import re", "from . import records", "from .records import AssetRecord", "from assets.engine import junk"],
)
def test_the_check_lets_the_stdlib_and_the_package_through(source):
    assert not any(forbidden(name) for name in imported_modules(source, PACKAGE))


def test_importing_the_engine_loads_no_django():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    script = f"import sys, {PACKAGE}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = result.stdout.split()
    assert PACKAGE in loaded
    assert "django" not in loaded
    parts = PACKAGE.split(".")
    parents = {".".join(parts[:length]) for length in range(1, len(parts))}  # "assets": empty, and unavoidable
    assert [name for name in loaded if forbidden(name) and name not in parents] == []
