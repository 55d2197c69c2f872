"""``POST /api/v1/query`` (the IR as JSON, for the caller's org) and ``GET /api/v1/whoami``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api.deps import require, services
from telequery.api.native.request import parse_query
from telequery.api.native.response import result_response
from telequery.api.openapi import raw_body
from telequery.query import run as run_ir

router = APIRouter(tags=["telequery"])


@router.post("/api/v1/query",
             summary="Run a query given as telequery's JSON IR, for the caller's org",
             openapi_extra=raw_body("The query IR as JSON (see docs/datasets.md)"))
async def run_query(request: Request) -> Response:
    principal = require(request, "query")
    query = parse_query(await request.body())
    result = await run_in_threadpool(run_ir, services(request).store, query, principal.org)
    return result_response(result)


@router.get("/api/v1/whoami", summary="The org and scopes of the calling token")
async def whoami(request: Request) -> dict[str, object]:
    principal = require(request, "query")
    return {"org": principal.org, "scopes": sorted(principal.scopes)}
