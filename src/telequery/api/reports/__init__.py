"""Reports API (Everruns-compatible): semantic catalog, queries, exports, saved reports.

See /work/shared/contracts/reports.md. As in every API package: ``routes`` the handlers,
``request`` the request shapes and their checks, ``response`` the answers, ``errors`` the
RFC 9457 error envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telequery.api import errors as api_errors
from telequery.api.reports.errors import MEDIA_TYPE, problem
from telequery.api.reports.routes import PREFIX, router

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    app.include_router(router)
    api_errors.register_formatter(PREFIX, problem, {
        "type": "object", "required": ["type", "title", "status", "detail", "code", "errors"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "status": {"type": "integer"}, "detail": {"type": "string"},
                       "code": {"type": "string"},
                       "errors": {"type": "array", "items": {"type": "object"}},
                       "allowed_actions": {"type": "array", "items": {"type": "string"}}}},
        MEDIA_TYPE)
