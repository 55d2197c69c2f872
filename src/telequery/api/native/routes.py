"""``POST /api/v1/query`` (the IR as JSON), ``POST /api/v1/sql`` (tenant-safe SQL) and
``GET /api/v1/whoami``; all for the caller's org."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api.deps import require, services
from telequery.api.native.request import parse_query, parse_sql, unpriced_query
from telequery.api.native.response import result_response, sql_response
from telequery.api.openapi import raw_body
from telequery.query import run as run_ir
from telequery.query import run_sql

router = APIRouter(tags=["telequery"])


@router.post("/api/v1/query",
             summary="Run a query given as telequery's JSON IR, for the caller's org",
             openapi_extra=raw_body("The query IR as JSON (see docs/datasets.md)"))
async def run_query(request: Request) -> Response:
    principal = require(request, "query")
    query = parse_query(await request.body())
    result = await run_in_threadpool(run_ir, services(request).store, query, principal.org)
    return result_response(result)


@router.post("/api/v1/sql",
             summary="Run a read-only SELECT over the caller's org's tables (docs/sql.md)",
             openapi_extra=raw_body('{"sql": "SELECT ...", "from"?, "to"?, "limit"?}'))
async def sql(request: Request) -> Response:
    """JSON (columns + rows), or CSV / Arrow / Parquet by ``Accept``."""
    principal = require(request, "query")
    req = parse_sql(await request.body())
    result = await run_in_threadpool(run_sql, services(request).store, req.sql,
                                     principal.org, req.time_range, limit=req.limit)
    return sql_response(result, req.time_range, request.headers.get("accept", ""))


@router.get("/api/v1/cost/unpriced",
            summary="LLM calls that came without a cost and whose model has no known price")
async def unpriced(request: Request, since_hours: float = 168.0) -> dict[str, object]:
    """By provider and model, over the last ``since_hours`` (default a week): what to add
    a negotiated price for, or to report upstream to the price table."""
    principal = require(request, "query")
    query = unpriced_query(since_hours)
    result = await run_in_threadpool(run_ir, services(request).store, query, principal.org)
    return {"from": query.time_range.start.isoformat(), "to": query.time_range.end.isoformat(),
            "models": [dict(zip(("provider", "model", "calls", "input_tokens",
                                 "output_tokens"), row, strict=True)) for row in result.rows]}


@router.get("/api/v1/whoami", summary="The org and scopes of the calling token")
async def whoami(request: Request) -> dict[str, object]:
    principal = require(request, "query")
    return {"org": principal.org, "scopes": sorted(principal.scopes)}
