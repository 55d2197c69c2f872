"""The API modules the app mounts; each has ``install(app)``."""

from __future__ import annotations

from types import ModuleType

from telequery.api import gateway, otlp, reports, traceviews, workers

ALL: list[ModuleType] = [gateway, otlp, reports, workers, traceviews]
