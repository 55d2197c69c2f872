"""Gateway metrics API (TrueFoundry AI Gateway-compatible ``metrics/query``).

``POST /api/svc/v1/llm-gateway/metrics/query`` answers agent, model and MCP metrics in
the gateway's shapes (contracts/gateway-metrics.md); ``POST /api/svc/v1/spans/query`` a
page of spans as TrueFoundry's SDK reads them. Every error under ``/api/svc/`` uses
the gateway envelope ``{"statusCode", "message", "details"}``.
"""

from __future__ import annotations

from fastapi import FastAPI

from telequery.api import errors as api_errors
from telequery.api.gateway.errors import ENVELOPE, PREFIX, envelope
from telequery.api.gateway.routes import router, spans_router


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(spans_router)
    api_errors.register_formatter(PREFIX, envelope, ENVELOPE)
