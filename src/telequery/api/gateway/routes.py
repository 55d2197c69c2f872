"""``POST /api/svc/v1/llm-gateway/metrics/query``: agent, model and MCP metrics in the
gateway's shapes (contracts/gateway-metrics.md); ``POST /api/svc/v1/spans/query``: a page
of spans as TrueFoundry's SDK reads them (``spans.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.api.gateway import spans
from telequery.api.gateway.request import InvalidRequest, Plan, body_schema, parse
from telequery.api.gateway.response import data_points
from telequery.query import run as run_query

if TYPE_CHECKING:
    from telequery.store.base import Store

router = APIRouter(prefix="/api/svc/v1/llm-gateway", tags=["gateway metrics"])
spans_router = APIRouter(prefix="/api/svc/v1", tags=["gateway spans"])


@router.post("/metrics/query", summary="Query agent, model or MCP metrics",
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": body_schema()}}}})
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


@spans_router.post("/spans/query", summary="A page of spans (TrueFoundry's traces.query_spans)",
                   openapi_extra={"requestBody": {"content": {"application/json": {
                       "schema": {"type": "object", "required": ["startTime"]}}}}})
async def spans_query(request: Request,
                      body: Any = Body(None, openapi_examples={"newest": {"value": {
                          "startTime": "2026-04-21T00:00:00.000Z",
                          "tracingProjectFqn": "truefoundry:tracing-project:tfy-default",
                          "limit": 100}}})) -> Response:
    """Spans of the window, newest first (``sortDirection``), ``limit`` a page, paged with
    ``pagination.nextPageToken``."""
    principal = require(request, "query")
    req = spans.parse(body, datetime.now(UTC))
    store = services(request).store
    return await run_in_threadpool(_spans_page, store, req, principal.org)


def _spans_page(store: Store, req: spans.SpansRequest, org: str) -> Response:
    return Response(orjson.dumps(spans.page(req, run_query(store, req.query, org))),
                    media_type="application/json")
