"""Each layer in its room (docs/architecture.md): app/core imports nothing of the app and no framework or
driver, app/db never imports app/http nor an area, app/http imports no area. Lazy imports inside functions
and relative imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
LAYERS = ("core", "db", "http")
FRAMEWORKS_AND_DRIVERS = (
    "litestar",
    "pydantic",
    "beanie",
    "motor",
    "pymongo",
    "bson",
    "mongomock",
    "mongomock_motor",
)


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` imports, relative imports resolved against `package` (e.g. "app.db")."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _app_imports(source: str, package: str) -> set[str]:
    return {name for name in _imported_modules(source, package) if name == "app" or name.startswith("app.")}


def _allowed(layer: str, name: str) -> bool:
    """Whether a module of `layer` may import the app module `name`."""
    # app.config (the settings type, a leaf module) may be read by every layer below the composition root.
    inside = {
        "core": ("app.core",),
        "db": ("app.core", "app.config", "app.db"),
        "http": ("app.core", "app.config", "app.db", "app.http"),
    }
    return name.startswith(tuple(f"{prefix}." for prefix in inside[layer])) or name in inside[layer]


def _offenders(layer: str) -> dict[str, set[str]]:
    found = {}
    for path in sorted((APP / layer).rglob("*.py")):
        package = f"app.{layer}"
        bad = {name for name in _app_imports(path.read_text(), package) if not _allowed(layer, name)}
        if layer == "core":
            bad |= {
                name
                for name in _imported_modules(path.read_text(), package)
                if name.split(".")[0] in FRAMEWORKS_AND_DRIVERS
            }
        if bad:
            found[str(path.relative_to(APP))] = bad
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_downwards(layer: str) -> None:
    assert len(list((APP / layer).rglob("*.py"))) > 3
    assert _offenders(layer) == {}


def test_the_check_sees_top_level_lazy_and_relative_imports() -> None:
    assert _app_imports("from app.auth.models import User", "app.db") == {
        "app.auth.models",
        "app.auth.models.User",
    }
    assert _app_imports("def f():\n    from app.projects.models import Project\n", "app.db")
    assert _app_imports("from .. import clients", "app.db") == {"app", "app.clients"}
    assert _app_imports("from . import money", "app.core") == {"app.core", "app.core.money"}
    assert not _allowed("db", "app.http.schemas") and not _allowed("http", "app.auth.tokens")
    assert _allowed("http", "app.db.repository") and _allowed("core", "app.core.money")


def test_litestar_private_api_is_used_in_one_named_module_only() -> None:
    """Every import of Litestar's private modules stands in app/http/litestar_private.py, which says why."""
    private = {}
    for path in sorted(APP.rglob("*.py")):
        found = {
            name
            for name in _imported_modules(path.read_text(), "app")
            if name.startswith("litestar.") and any(part.startswith("_") for part in name.split(".")[1:-1])
        }
        if found:
            private[str(path.relative_to(APP))] = found
    assert set(private) == {"http/litestar_private.py"}
