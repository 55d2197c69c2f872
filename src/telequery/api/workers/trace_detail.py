"""Trace detail for the UI: every span of one trace with its parent link, in start order.

A telequery extension (Cloudflare's public API has no such call), mounted beside the
Workers Observability routes so it shares their auth and error envelope:
``GET /client/v4/accounts/{account_id}/workers/observability/traces/{trace_id}``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import re2
from fastapi import APIRouter, Request
from fastapi import Query as QueryParam
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.api.workers.request import bad, time_range
from telequery.api.workers.response import event, ok
from telequery.query import Condition, FilterGroup, Op, OrderBy, Query, TimeRange
from telequery.query import run as run_query

if TYPE_CHECKING:
    from telequery.store.base import Store

PREFIX = "/client/v4/accounts/{account_id}/workers/observability"
MAX_TRACE_SPANS = 10_000
DEFAULT_LOOKBACK_MS = 7 * 86_400_000
_TRACE_ID = re2.compile(r"^[0-9a-f]{32}$")

router = APIRouter(prefix=PREFIX, tags=["workers-observability (telequery extension)"])


def spans_of(store: Store, org: str, trace_id: str, window: TimeRange) -> dict[str, object]:
    """The trace as the route answers it (blocking: call in a threadpool)."""
    q = Query(dataset="events", time_range=window,
              filter=FilterGroup("and", (Condition("$metadata.traceId", Op.EQ, trace_id),
                                         Condition("$metadata.type", Op.EQ, "span"))),
              order_by=(OrderBy("$metadata.startTime", False), OrderBy("$metadata.id", False)),
              limit=MAX_TRACE_SPANS + 1)
    result = run_query(store, q, org)
    rows = result.rows[:MAX_TRACE_SPANS]
    at = {c: i for i, c in enumerate(result.columns)}
    ids = {r[at["span_id"]] for r in rows}
    depth: dict[str, int] = {}
    parent_of = {r[at["span_id"]]: r[at["parent_span_id"]] for r in rows}

    def depth_of(span: str) -> int:
        # Iterative walk up the parent links; a cycle or a missing parent ends it.
        chain, seen = [], set()
        node: str | None = span
        while node is not None and node not in depth and node in ids and node not in seen:
            seen.add(node)
            chain.append(node)
            node = parent_of.get(node)
        base = depth.get(node, -1) if node is not None else -1  # type: ignore[arg-type]
        for n in reversed(chain):
            base += 1
            depth[n] = base
        return depth[span]

    spans = []
    for r in rows:
        span_id, parent = r[at["span_id"]], r[at["parent_span_id"]]
        ev = event(r, at)
        spans.append({
            "spanId": span_id, "parentSpanId": parent, "name": r[at["span_name"]],
            "service": r[at["service"]], "kind": r[at["span_kind"]], "status": r[at["status"]],
            "startTimeMs": ev["timestamp"], "endTimeMs": ev["$metadata"].get("endTime"),  # type: ignore[union-attr]
            "durationMs": float(r[at["duration_ms"]] or 0.0),
            "error": r[at["error"]], "depth": depth_of(span_id),
            "orphan": parent is not None and parent not in ids, "event": ev,
        })
    roots = [s["spanId"] for s in spans if s["parentSpanId"] is None]
    return {"traceId": trace_id, "spans": spans, "rootSpanIds": roots,
            "truncated": len(result.rows) > MAX_TRACE_SPANS,
            "statistics": {"elapsed": result.stats.elapsed, "rows_read": result.stats.rows_read,
                           "bytes_read": result.stats.bytes_read}}


@router.get(
    "/traces/{trace_id}",
    summary="Trace detail (telequery extension)",
    description=(
        "Every span of one trace, oldest start first, with `parentSpanId` links, the "
        "depth of each span under its root, `orphan` for spans whose parent is not in the "
        "trace (e.g. a root that never arrived) and the span as an events-view `event`. "
        "This call is a **telequery extension**: Cloudflare's Workers Observability API "
        "has no equivalent. At most 10,000 spans (`truncated` says when more exist). "
        "The window defaults to the 7 days before now; pass `from`/`to` (the traces "
        "view's `traceStartMs`/`traceEndMs`) to read less."),
    openapi_extra={"x-telequery-extension": True},
    responses={200: {"description": "Cloudflare envelope; `result` is the trace"},
               400: {"description": "bad trace id or time window"},
               401: {"description": "no valid token"}, 403: {"description": "wrong account"}},
)
async def trace_detail(
    account_id: str, trace_id: str, request: Request,
    from_ms: Annotated[int | None, QueryParam(
        alias="from", description="window start, epoch ms (inclusive)")] = None,
    to_ms: Annotated[int | None, QueryParam(
        alias="to", description="window end, epoch ms (exclusive)")] = None,
) -> Response:
    principal = require(request, "query")
    if principal.org != account_id:
        raise ApiError(403, "Forbidden: the token does not belong to this account",
                       "account_id", "forbidden")
    if not _TRACE_ID.match(trace_id):
        raise bad("trace_id", "must be 32 lower-case hex characters")
    now_ms = int(time.time() * 1000)
    end = to_ms if to_ms is not None else now_ms + 60_000
    start = from_ms if from_ms is not None else min(end - DEFAULT_LOOKBACK_MS, end - 1)
    window = time_range(start, end, "from")
    result = await run_in_threadpool(spans_of, services(request).store, principal.org,
                                     trace_id, window)
    return ok(result)
