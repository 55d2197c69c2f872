"""The layout the architecture promises (docs/architecture.md): every API package has the
same modules, and the API list is the folder list."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import telequery.api as api
from telequery.api import routers

API_DIR = Path(api.__file__).parent
PACKAGES = sorted(p.name for p in API_DIR.iterdir() if (p / "__init__.py").exists())


def test_the_api_packages_are_the_mounted_apis() -> None:
    mounted = {m.__name__.rsplit(".", 1)[1] for m in routers.ALL} - {"ui"}
    assert set(PACKAGES) == mounted


@pytest.mark.parametrize("package", PACKAGES)
def test_every_api_package_has_the_same_modules(package: str) -> None:
    for module in ("routes", "request", "response", "errors"):
        assert (API_DIR / package / f"{module}.py").exists(), f"api/{package}/{module}.py"
    assert callable(importlib.import_module(f"telequery.api.{package}").install)
