"""Reports API routes (Everruns-compatible): catalog, query, export, saved reports.

Speaks only IR: a request is checked and turned into a ``Query`` (``schema.to_query``),
run with ``engine.run`` in a threadpool, and its rows shaped into a ReportResult.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi import Query as QueryParam
from starlette.concurrency import run_in_threadpool

from telequery.api import deps
from telequery.api.errors import ApiError
from telequery.api.reports.request import (
    BackfillRequest,
    ExportRequest,
    ReportQuery,
    SavedExportRequest,
    SavedReportCreate,
    SavedReportPatch,
    bad,
    to_query,
)
from telequery.api.reports.response import export_file, iso, report_result, saved_json
from telequery.destinations.config import KIND as DESTINATION_KIND
from telequery.query import Agg, Measure, Query, Result, TimeRange
from telequery.query import run as run_ir
from telequery.query.datasets.reports import REPORTS
from telequery.store.base import barrier_wait

if TYPE_CHECKING:
    from telequery.ingest.writer import Writer
    from telequery.meta import Document
    from telequery.store.base import Store

PREFIX = "/api/v1/reports"
KIND = "report"
MAX_CONCURRENT_QUERIES = 8
"""Report queries running at once in this process; past it: 503 with retry-later."""
RETRY_AFTER_SECONDS = 1

router = APIRouter(prefix=PREFIX, tags=["reports"])


class _Gate:
    """Counts report queries in flight (handlers run on one event loop)."""

    def __init__(self) -> None:
        self.inflight = 0

    @asynccontextmanager
    async def enter(self) -> AsyncIterator[None]:
        if self.inflight >= MAX_CONCURRENT_QUERIES:
            raise ApiError(503, f"too many report queries running (limit "
                                f"{MAX_CONCURRENT_QUERIES}); retry shortly", None, "overloaded",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                           extra={"retry_after_seconds": RETRY_AFTER_SECONDS,
                                  "allowed_actions": [{"rel": "retry-later",
                                                       "hint": "retry after "
                                                               "retry_after_seconds"}]})
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1


_GATE = _Gate()


# --- catalog and ad-hoc queries ----------------------------------------------------------
@router.get("/catalog", summary="Datasets with their dimensions, measures and filter fields")
async def catalog(request: Request) -> dict[str, Any]:
    deps.require(request, "query")
    return {"datasets": [{"name": s.name, "description": s.description,
                          "dimensions": list(s.dimensions), "measures": list(s.measures),
                          "filter_fields": list(s.filter_fields)} for s in REPORTS.values()]}


@router.post("/query", summary="Run a report query")
async def run_query(request: Request, body: ReportQuery) -> dict[str, Any]:
    principal = deps.require(request, "query")
    return await _run(request, principal.org, body)


@router.post("/query/export", summary="Run a report query and return it as CSV or JSON")
async def export_query(request: Request, body: ExportRequest) -> dict[str, Any]:
    principal = deps.require(request, "query")
    result = await _run(request, principal.org, body.query, "query.")
    return export_file(result, body.format, None)


# --- saved reports ----------------------------------------------------------------------
MANAGE = "reports:manage"  # creating, changing, deleting; viewing and running need query


@router.get("/saved", summary="Saved reports, most recently updated first, then by name")
async def list_saved(request: Request) -> dict[str, Any]:
    principal = deps.require(request, "query")
    docs = deps.services(request).meta.list(KIND, principal.org, order_by="name",
                                            descending=False)
    docs.sort(key=lambda d: d.updated, reverse=True)  # stable: name order within a time
    return {"data": [saved_json(d) for d in docs]}


@router.post("/saved", status_code=201, summary="Save a report")
async def create_saved(request: Request, body: SavedReportCreate) -> dict[str, Any]:
    """Names need not be unique (as upstream): a report is its id."""
    principal = deps.require(request, MANAGE)
    to_query(body.query, "query.")  # reject what could never run
    meta = deps.services(request).meta
    name = body.name.strip()
    if not name:
        raise bad("name", "name must not be blank")
    doc = meta.put(KIND, principal.org, name, {
        "description": body.description, "query": body.query.as_json(),
        "dashboard": body.dashboard.model_dump(exclude_none=True) if body.dashboard
        else None})
    return saved_json(doc)


@router.get("/saved/{report_id}", summary="One saved report", operation_id="get_saved_report")
async def get_saved(request: Request, report_id: str) -> dict[str, Any]:
    principal = deps.require(request, "query")
    return saved_json(_load(request, principal.org, report_id))


@router.patch("/saved/{report_id}", summary="Change a saved report")
async def patch_saved(request: Request, report_id: str, body: SavedReportPatch
                      ) -> dict[str, Any]:
    principal = deps.require(request, MANAGE)
    meta = deps.services(request).meta
    present = body.model_fields_set
    for required in ("name", "query"):
        if required in present and getattr(body, required) is None:
            raise bad(required, f"{required} cannot be cleared")
    if body.query is not None:
        to_query(body.query, "query.")
    doc = _load(request, principal.org, report_id)
    name = None
    if body.name is not None:
        name = body.name.strip()
        if not name:
            raise bad("name", "name must not be blank")
    new = dict(doc.body)
    if "description" in present:
        new["description"] = body.description
    if "dashboard" in present:
        new["dashboard"] = body.dashboard.model_dump(exclude_none=True) \
            if body.dashboard else None
    if body.query is not None:
        new["query"] = body.query.as_json()
    updated = meta.update(KIND, principal.org, doc.id, name=name, body=new)
    if updated is None:  # deleted meanwhile
        raise _not_found(report_id)
    return saved_json(updated)


@router.delete("/saved/{report_id}", status_code=204, summary="Delete a saved report")
async def delete_saved(request: Request, report_id: str) -> Response:
    principal = deps.require(request, MANAGE)
    if not deps.services(request).meta.delete(KIND, principal.org, report_id):
        raise _not_found(report_id)
    return Response(status_code=204)


@router.post("/saved/{report_id}/run", summary="Run a saved report")
async def run_saved(request: Request, report_id: str) -> dict[str, Any]:
    principal = deps.require(request, "query")
    doc = _load(request, principal.org, report_id)
    return await _run(request, principal.org, _stored_query(doc), "query.")


@router.post("/saved/{report_id}/export", summary="Run a saved report as CSV or JSON")
async def export_saved(request: Request, report_id: str,
                       body: SavedExportRequest) -> dict[str, Any]:
    """The body is required (``{}`` for CSV), as upstream's ``Json<ExportSavedReportRequest>``
    extractor requires one."""
    principal = deps.require(request, "query")
    doc = _load(request, principal.org, report_id)
    result = await _run(request, principal.org, _stored_query(doc), "query.")
    return export_file(result, body.format, doc.name)


# --- operator operations (upstream's reporting admin surface; docs/datasets.md) ---------
# telequery derives every report dataset from the stored events when it is queried: there
# is no outbox of source rows and no projector filling fact tables. What stands in for
# them is real: rows acknowledged but not yet applied to the table (the writer's pending
# groups, the only thing a report can lag behind) and the org's destination queues.
@router.get("/admin/diagnostics", summary="Reporting freshness and outbox health (admin)")
async def diagnostics(request: Request) -> dict[str, Any]:
    principal = deps.require(request, "admin")
    svc = deps.services(request)
    now = datetime.now(UTC)
    pending, oldest = svc.writer.pending_for(principal.org)
    applied = svc.writer.applied_at.get(principal.org)
    latest = datetime.fromtimestamp(applied, UTC) if applied is not None else None
    lag = max(0, round((now - latest).total_seconds() * 1000)) if latest else None
    queues = await run_in_threadpool(_destination_queues, svc, principal.org)
    return {
        "generated_at": iso(now),
        "projector_lag": [{"dataset": name, "latest_projected_at": iso(latest) if latest
                           else None, "freshness_lag_ms": lag} for name in REPORTS],
        "outbox": {"pending": pending + queues["queued_batches"], "processing": 0,
                   "failed": queues["rejected_batches"], "completed": queues["sent_batches"],
                   "failed_rows": [],
                   "oldest_pending_at": iso(datetime.fromtimestamp(oldest, UTC))
                   if oldest is not None else None},
    }


@router.post("/admin/backfill", summary="Re-derive report data (admin): nothing to enqueue")
async def backfill(request: Request, body: BackfillRequest) -> dict[str, Any]:
    """Report datasets are derived from the stored events at query time, so there is
    nothing to re-materialize: every count is 0 (docs/datasets.md)."""
    deps.require(request, "admin")
    return {"enqueued": 0, "events": 0, "sessions": 0, "llm_generations": 0,
            "usage_ledger": 0}


@router.post("/projector/run", summary="Apply the org's acknowledged rows now (admin)")
async def run_projector(request: Request,
                        limit: int | None = QueryParam(None, ge=-(2**63), le=2**63 - 1)
                        ) -> dict[str, Any]:
    """What a report can lag behind is the rows acknowledged but not yet applied to the
    table: this applies them now (all of them: the writer applies in order), and reports
    the org's pending groups as claimed and completed. ``limit`` is an int64 as upstream
    types it; 0 or less claims nothing."""
    principal = deps.require(request, "admin")
    svc = deps.services(request)
    claimed, _ = svc.writer.pending_for(principal.org)
    if limit is not None and limit <= 0:
        claimed = 0
    if claimed and svc.store.read_barrier is not None:
        await run_in_threadpool(svc.store.read_barrier, 30.0)
    return {"claimed": claimed, "completed": claimed, "failed": 0}


def _destination_queues(svc: deps.Services, org: str) -> dict[str, int]:
    totals = {"queued_batches": 0, "rejected_batches": 0, "sent_batches": 0}
    for doc in svc.meta.list(DESTINATION_KIND, org):
        status = svc.exporter.status(org, doc.id)
        for key in totals:
            totals[key] += int(status.get(key) or 0)  # type: ignore[call-overload]
    return totals


# --- helpers ----------------------------------------------------------------------------
async def _run(request: Request, org: str, q: ReportQuery, prefix: str = "") -> dict[str, Any]:
    query = to_query(q, prefix)
    svc = deps.services(request)
    async with _GATE.enter():
        result, newest = await run_in_threadpool(_execute, svc.store, svc.writer, query, org)
    return report_result(query, result, newest)


def _execute(store: Store, writer: Writer, query: Query, org: str
             ) -> tuple[Result, float | None]:
    """The report, and when the org's data was last made queryable (epoch ms)."""
    return run_ir(store, query, org), _made_queryable(store, writer, org)


def _made_queryable(store: Store, writer: Writer, org: str) -> float | None:
    """When the org's newest rows this query reads were acknowledged (every acknowledged
    row with read-your-writes, else the applied ones); before any since this process
    started, the newest event time the org has stored (remembered, so it is asked once).
    None: the org has no data."""
    # what this query reads: every acknowledged row (read-your-writes) or what is applied
    at = (writer.acked_at if barrier_wait() is not None else writer.applied_at).get(org)
    if at is not None:
        return at * 1000
    everything = TimeRange(datetime(1970, 1, 1, tzinfo=UTC),
                           datetime.now(UTC) + timedelta(days=366))
    newest = run_ir(store, Query("events", everything, measures=(
        Measure(Agg.MAX, "$metadata.startTime", alias="newest"),)), org).rows
    value = newest[0][0] if newest else None
    # ClickHouse's max() over no rows is 0, not NULL: both mean "no data"
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    writer.acked_at.setdefault(org, value / 1000)
    writer.applied_at.setdefault(org, value / 1000)
    return float(value)


def _load(request: Request, org: str, report_id: str) -> Document:
    doc = deps.services(request).meta.get(KIND, org, report_id)
    if doc is None:
        raise _not_found(report_id)
    return doc


def _stored_query(doc: Document) -> ReportQuery:
    return ReportQuery.model_validate(doc.body["query"])


def _not_found(report_id: str) -> ApiError:
    return ApiError(404, f"no saved report with id {report_id!r}", "id", "not_found")
