"""The ``traces`` and ``agents`` views of ``telemetry/query``: IR queries over the
``traces`` / ``agent_runs`` datasets (query/datasets/traces.py).

Filters and the needle name event fields (``$metadata.service``, ``user.id``), so they
select traces, not summaries: a trace (and each agent run in it) is listed when at least
one of its events matches, and its summary covers all of its spans. That takes two
statements: the ids of the matching traces (newest match first, at most
``MAX_MATCHED_TRACES``), then the summaries of those traces. Without filters, one.

Paging is by cursor: ``offset`` is the last ``traceId`` (traces) or run ``id`` (agents)
of the previous page; both lists are ordered by the smallest event id of their spans,
which sorts like the start time, so the cursor becomes one ``<`` (or ``>`` for
``offsetDirection: prev``) on that id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telequery.api.workers.request import bad
from telequery.api.workers.views import Outcome, and_, bucket_count
from telequery.query import (
    Agg,
    Condition,
    Dimension,
    Filter,
    Measure,
    Op,
    OrderBy,
    Query,
    Result,
    ValueType,
)
from telequery.query import run as run_query
from telequery.query.datasets.traces import PAGING_FIELD

if TYPE_CHECKING:
    from telequery.api.workers.request import QueryRequest
    from telequery.store.base import Store

DEFAULT_LIMIT = 50
MAX_MATCHED_TRACES = 10_000  # traces a filtered list can reach (newest matches first)

TRACE_SELECT = ("traceId", "rootSpanName", "rootTransactionName", "service", "spans",
                "traceStartMs", "traceEndMs", "traceDurationMs", "errors", "rootSpanId",
                "hasRoot", PAGING_FIELD)
RUN_SELECT = ("id", "traceId", "status", "errors", "models", "providers", "services", "spans",
              "traceDurationMs", "traceStartMs", "traceEndMs", "agentId", "agentName",
              "conversationId", "inputTokens", "outputTokens", "runSpanId", "hasAgentSpan",
              "cacheReadTokens", "cost", "llmCalls", "toolCalls", "userId")


def _run(store: Store, q: Query, org: str, out: Outcome) -> Result:
    result = run_query(store, q, org)
    out.stats.append(result.stats)
    return result


@dataclass
class Page:
    """What a list view needs: the dataset filter (matching traces + cursor), the order."""

    filter: Filter | None
    descending: bool


def _matching_traces(store: Store, req: QueryRequest, org: str, out: Outcome
                     ) -> Filter | None:
    """``traceId IN (traces with a matching event)``; None when nothing is filtered."""
    p = req.params
    if p.filter is None and (p.needle is None or not p.needle.value):
        return None
    last = Measure(Agg.MAX, "$metadata.startTime", "__last", ValueType.NUMBER)
    q = Query(dataset="events", time_range=req.time_range, datasets=p.datasets,
              filter=and_(p.filter, Condition("$metadata.traceId", Op.EXISTS)),
              needle=p.needle, measures=(last,), group_by=(Dimension("$metadata.traceId"),),
              order_by=(OrderBy("__last"),), limit=MAX_MATCHED_TRACES)
    ids = [r[0] for r in _run(store, q, org, out).rows]
    return Condition("traceId", Op.IN, ids) if ids else Condition("traceId", Op.IS_NULL)


def _trace_cursor(store: Store, req: QueryRequest, org: str, out: Outcome) -> str:
    """The paging id of the trace ``offset`` names (its smallest span event id)."""
    first = Measure(Agg.MIN, "$metadata.id", "__first", ValueType.STRING)
    q = Query(dataset="events", time_range=req.time_range, datasets=req.params.datasets,
              filter=and_(Condition("$metadata.traceId", Op.EQ, req.offset),
                          Condition("$metadata.type", Op.EQ, "span")),
              measures=(first,))
    rows = _run(store, q, org, out).rows
    if not rows or not rows[0][0]:  # ClickHouse: min() over no rows is ''
        raise bad("offset", f"no trace {req.offset!r} in the timeframe to continue from")
    return str(rows[0][0])


def _page(store: Store, req: QueryRequest, org: str, out: Outcome, cursor: str | None
          ) -> Page:
    f = _matching_traces(store, req, org, out)
    descending = req.offset_direction != "prev"
    if cursor is not None:
        f = and_(f, Condition(PAGING_FIELD, Op.LT if descending else Op.GT, cursor))
    return Page(f, descending)


def _list(store: Store, req: QueryRequest, org: str, out: Outcome, dataset: str,
          select: tuple[str, ...], page: Page) -> list[dict[str, object]]:
    limit = req.limit if req.limit is not None else DEFAULT_LIMIT
    q = Query(dataset=dataset, time_range=req.time_range, datasets=req.params.datasets,
              filter=page.filter, select=select, limit=limit, offset=req.offset_by,
              order_by=(OrderBy(PAGING_FIELD, page.descending),))
    result = _run(store, q, org, out)
    rows = [dict(zip(result.columns, r, strict=True)) for r in result.rows]
    return rows if page.descending else rows[::-1]


def _num(v: object) -> float:
    return float(v) if v is not None else 0.0


def _strings(v: object) -> list[str]:
    return [str(x) for x in v or ()]  # type: ignore[union-attr]


def trace_json(r: dict[str, object]) -> dict[str, object]:
    """One ``traces`` item (the SDK's ``Trace``), plus ``rootSpanId`` and ``hasRoot``."""
    return {
        "traceId": r["traceId"], "rootSpanName": r["rootSpanName"] or "",
        "rootTransactionName": r["rootTransactionName"] or "",
        "service": _strings(r["service"]), "spans": int(r["spans"] or 0),  # type: ignore
        "traceStartMs": r["traceStartMs"], "traceEndMs": r["traceEndMs"],
        "traceDurationMs": _num(r["traceDurationMs"]), "errors": _strings(r["errors"]),
        "rootSpanId": r["rootSpanId"], "hasRoot": bool(r["hasRoot"]),
    }


def run_json(r: dict[str, object]) -> dict[str, object]:
    """One ``agents`` item (the SDK's ``Agent``), plus ``runSpanId`` and ``hasAgentSpan``."""
    out: dict[str, object] = {
        "id": r["id"], "traceId": r["traceId"], "status": r["status"],
        "errors": _strings(r["errors"]), "models": _strings(r["models"]),
        "providers": _strings(r["providers"]), "services": _strings(r["services"]),
        "spans": int(r["spans"] or 0), "traceDurationMs": _num(r["traceDurationMs"]),  # type: ignore
        "traceStartMs": r["traceStartMs"], "traceEndMs": r["traceEndMs"],
        "runSpanId": r["runSpanId"], "hasAgentSpan": bool(r["hasAgentSpan"]),
        "llmCalls": int(r["llmCalls"] or 0), "toolCalls": int(r["toolCalls"] or 0),  # type: ignore
    }
    for key in ("agentId", "agentName", "conversationId", "userId"):
        if r[key] is not None:
            out[key] = r[key]
    for key in ("inputTokens", "outputTokens", "cacheReadTokens", "cost"):
        if r[key] is not None:
            out[key] = _num(r[key])
    return out


def traces(store: Store, req: QueryRequest, org: str) -> Outcome:
    """``view: "traces"``: trace summaries, newest first."""
    out = Outcome({})
    cursor = _trace_cursor(store, req, org, out) if req.offset else None
    rows = _list(store, req, org, out, "traces", TRACE_SELECT,
                 _page(store, req, org, out, cursor))
    out.body["traces"] = [trace_json(r) for r in rows]
    out.granularity = bucket_count(req)
    return out


def agents(store: Store, req: QueryRequest, org: str) -> Outcome:
    """``view: "agents"``: agent runs, newest first; the cursor is a run ``id``."""
    out = Outcome({})
    rows = _list(store, req, org, out, "agent_runs", RUN_SELECT,
                 _page(store, req, org, out, req.offset))
    out.body["agents"] = [run_json(r) for r in rows]
    out.granularity = bucket_count(req)
    return out
