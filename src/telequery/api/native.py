"""telequery's own query API: the IR as JSON (see ``query/parse.py``).

The CLI uses it to query a running server (the DuckDB file is locked by the server
process), and it is the smallest way to reach every dataset in the catalog.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api import errors
from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.api.openapi import raw_body
from telequery.query import query_from_dict
from telequery.query import run as run_ir

PREFIX = "/api/v1/query"
router = APIRouter(tags=["telequery"])


@router.post(PREFIX, summary="Run a query given as telequery's JSON IR, for the caller's org",
             openapi_extra=raw_body("The query IR as JSON (see docs/datasets.md)"))
async def run_query(request: Request) -> Response:
    principal = require(request, "query")
    try:
        spec = orjson.loads(await request.body())
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"body is not valid JSON: {e}", "body", "invalid_json") from None
    if not isinstance(spec, dict):
        raise ApiError(400, "body must be a JSON object", "body", "invalid_json")
    query = query_from_dict(spec)
    result = await run_in_threadpool(run_ir, services(request).store, query, principal.org)
    body = {"columns": result.columns, "rows": result.rows,
            "stats": {"rows_read": result.stats.rows_read, "bytes_read": result.stats.bytes_read,
                      "elapsed": result.stats.elapsed}}
    return Response(orjson.dumps(body, default=str), media_type="application/json")


@router.get("/api/v1/whoami", summary="The org and scopes of the calling token")
async def whoami(request: Request) -> dict[str, object]:
    principal = require(request, "query")
    return {"org": principal.org, "scopes": sorted(principal.scopes)}


def install(app: FastAPI) -> None:
    errors.register_formatter(PREFIX, errors.native_envelope)
    errors.register_formatter("/api/v1/whoami", errors.native_envelope)
    app.include_router(router)
