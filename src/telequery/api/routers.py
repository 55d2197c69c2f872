"""The API modules the app mounts; each has ``install(app)``."""

from __future__ import annotations

from types import ModuleType

from telequery.api import admin, gateway, native, otlp, reports, traceviews, ui, workers

ALL: list[ModuleType] = [admin, gateway, native, otlp, reports, workers, traceviews, ui]
