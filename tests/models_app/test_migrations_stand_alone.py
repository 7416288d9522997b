"""Migrations stand alone: none imports the project's own code, so a later change to that
code cannot change what an old migration does to a database."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = frozenset(
    path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"
)


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_no_migration_imports_the_project():
    migrations = sorted(ROOT.glob("*/migrations/[0-9]*.py"))
    assert len(migrations) > 20
    assert {"models_app", "approvals_app", "registry_site"} <= PROJECT_PACKAGES
    offending = {
        str(path.relative_to(ROOT)): module
        for path in migrations
        for module in _imported_modules(path)
        if module.startswith(".") or module.split(".")[0] in PROJECT_PACKAGES
    }
    assert offending == {}
