"""The API modules the app mounts; each has ``install(app)``."""

from __future__ import annotations

from types import ModuleType

from telequery.api import (
    admin,
    gateway,
    ingest,
    mcp,
    native,
    reports,
    ui,
    workers,
)

ALL: list[ModuleType] = [admin, gateway, native, ingest, reports, workers, mcp, ui]
