"""Gateway metrics API (TrueFoundry AI Gateway-compatible ``metrics/query``).

``POST /api/svc/v1/llm-gateway/metrics/query`` answers agent, model and MCP metrics in
the gateway's shapes (contracts/gateway-metrics.md). Every error under ``/api/svc/`` uses
the gateway envelope ``{"statusCode", "message", "details"}``.
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.gateway.errors import ENVELOPE, PREFIX, envelope
from telequery.api.gateway.routes import router


def install(app: FastAPI) -> None:
    app.include_router(router)
    api_errors.register_formatter(PREFIX, envelope, ENVELOPE)
