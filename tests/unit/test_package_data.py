"""The image installs Orbix as a wheel (`pip install .`): every file under app/ that is not Python must be
declared as package data, or the image would lack it (the document templates, the e-mail texts)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_non_python_file_of_the_app_is_declared_package_data():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [
        path
        for path in (ROOT / "app").rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert files, "the app has templates"
    for path in files:
        relative = path.relative_to(ROOT)
        covered = any(
            fnmatch(str(relative.relative_to(Path(*package.split(".")))), pattern)
            for package, patterns in declared.items()
            if relative.is_relative_to(Path(*package.split(".")))
            for pattern in patterns
        )
        assert covered, f"{relative} is not in [tool.setuptools.package-data]"
