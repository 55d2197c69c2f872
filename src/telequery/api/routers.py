"""The API modules the app mounts; each has ``install(app)``."""

from __future__ import annotations

from types import ModuleType

ALL: list[ModuleType] = []
