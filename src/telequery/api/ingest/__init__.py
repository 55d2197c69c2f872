"""Ingest over HTTP: OTLP/HTTP traces and logs, and NDJSON events (docs/ingest.md).

Modules as in every API package: ``routes`` (the endpoints), ``request`` (limits, token,
body, decoding, commit), ``response`` (success answers), ``errors`` (the envelopes).
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.ingest.errors import (
    EVENTS_ERROR_SCHEMA,
    STATUS_SCHEMA,
    events_format,
    otlp_format,
)
from telequery.api.ingest.request import IngestLimits
from telequery.api.ingest.routes import router

__all__ = ["IngestLimits", "install"]


def install(app: FastAPI) -> None:
    app.include_router(router)
    api_errors.register_formatter("/v1/traces", otlp_format, STATUS_SCHEMA)
    api_errors.register_formatter("/v1/logs", otlp_format, STATUS_SCHEMA)
    api_errors.register_formatter("/v1/events", events_format, EVENTS_ERROR_SCHEMA)
