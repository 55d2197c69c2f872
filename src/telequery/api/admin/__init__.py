"""The admin API: an org's tokens and retention rules (``admin`` scope, the caller's org).

``/api/v1/tokens``: list (never the tokens themselves), create (the token is in the answer
once), revoke. ``/api/v1/retention``: the rules that apply to the org, set or remove one
(dataset and kind may be ``*``); ``POST /api/v1/retention/sweep`` runs a sweep now. Errors
use the native envelope (``{"error": {"status", "code", "details": [{field, reason}]}}``).
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.admin.errors import ENVELOPE, PREFIXES, envelope
from telequery.api.admin.routes import router


def install(app: FastAPI) -> None:
    for prefix in PREFIXES:
        api_errors.register_formatter(prefix, envelope, ENVELOPE)
    app.include_router(router)
