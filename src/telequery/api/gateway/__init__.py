"""Gateway metrics API (TrueFoundry AI Gateway-compatible ``metrics/query``).

``POST /api/svc/v1/llm-gateway/metrics/query`` answers agent, model and MCP metrics in
the gateway's shapes (contracts/gateway-metrics.md). Every error under ``/api/svc/`` uses
the gateway envelope ``{"statusCode", "message", "details"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from telequery.api import errors
from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.api.gateway.request import InvalidRequest, Plan, parse
from telequery.api.gateway.response import data_points
from telequery.query import run as run_query

if TYPE_CHECKING:
    from telequery.store.base import Store

PREFIX = "/api/svc/"
router = APIRouter(prefix="/api/svc/v1/llm-gateway", tags=["gateway metrics"])

_MESSAGES = {400: "Invalid query", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
             405: "Method not allowed", 408: "Query timeout", 413: "Payload too large",
             500: "Internal server error", 503: "Service unavailable"}


def _format(status: int, problems: list[tuple[str | None, str]], code: str | None,
            headers: dict[str, str], extra: dict[str, object]) -> Response:
    """The gateway's error envelope; ``extra["details"]`` carries a whole list of problems."""
    details = extra.get("details")
    if not isinstance(details, list):
        details = [reason if not f or f in reason else f"{f}: {reason}" for f, reason in problems]
    return JSONResponse({"statusCode": status, "message": _MESSAGES.get(status, "Error"),
                         "details": details}, status_code=status, headers=headers)


@router.post("/metrics/query", summary="Query agent, model or MCP metrics")
async def metrics_query(request: Request,
                        body: Any = Body(None, openapi_examples={"agents": {"value": {
                            "startTs": "2026-04-21T00:00:00.000Z",
                            "endTs": "2026-04-22T00:00:00.000Z",
                            "datasource": "agentMetrics", "type": "distribution",
                            "aggregations": [{"type": "p99", "column": "latencyMs"}],
                            "groupBy": ["agentName"]}}})) -> Response:
    """Distribution (one point per group) or timeseries (one per bucket per group)."""
    principal = require(request, "query")
    try:
        plan = parse(body)
    except InvalidRequest as e:
        raise ApiError(400, "Invalid query", "body", "invalid_query",
                       extra={"details": e.details}) from None
    store = services(request).store
    return await run_in_threadpool(_answer, store, plan, principal.org)


def _answer(store: Store, plan: Plan, org: str) -> Response:
    """Query and JSON in one worker-thread call: formatting a week of hourly points (~1 ms
    per 1,000) does not hold up the event loop, and no second thread hop."""
    result = run_query(store, plan.query, org)
    # orjson straight to bytes: FastAPI's generic encoder cost ~5 ms per 1,000 points.
    return Response(orjson.dumps({"data": {"dataPoints": data_points(plan, result)}}),
                    media_type="application/json")


def install(app: FastAPI) -> None:
    app.include_router(router)
    errors.register_formatter(PREFIX, _format, {
        "type": "object", "required": ["statusCode", "message", "details"],
        "properties": {"statusCode": {"type": "integer"}, "message": {"type": "string"},
                       "details": {"type": "array", "items": {"type": "string"}}}})
