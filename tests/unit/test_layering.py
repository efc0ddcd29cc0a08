"""Each rule in its room: app/core imports no area (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "app" / "core"


def _imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))
    return names


def _area_imports(source: str) -> set[str]:
    return {
        name
        for name in _imported_modules(source)
        if ((name == "app" or name.startswith(("app.", "."))) and not name.startswith(("app.core", ".")))
        or name.startswith("..")  # a relative import out of core
    }


def test_no_module_under_app_core_imports_an_area():
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(path.relative_to(CORE)): found for path in modules if (found := _area_imports(path.read_text()))
    }
    assert offenders == {}


def test_the_check_sees_top_level_lazy_and_relative_area_imports():
    assert _area_imports("from app.auth.documents import User") == {
        "app.auth.documents",
        "app.auth.documents.User",
    }
    assert _area_imports("def f():\n    from app.projects.documents import Project\n")
    assert _area_imports("import app.clients.service")
    assert _area_imports("from app import invoices")
    assert _area_imports("from ..auth import documents")
    assert not _area_imports("from app.core.errors import NotFound\nfrom . import money")
