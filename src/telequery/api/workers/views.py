"""Run a parsed Workers Observability query: each view as IR queries on the engine.

Blocking (DuckDB calls block): routes call ``run_view`` in a threadpool. Only the rows of
the returned page are touched in Python, and only to format them (``render``).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from telequery.api.workers import response as render
from telequery.api.workers.request import QueryRequest, bad
from telequery.query import (
    Agg,
    Bucketing,
    Condition,
    Dimension,
    Filter,
    FilterGroup,
    Measure,
    Op,
    OrderBy,
    Query,
    Result,
    TimeRange,
    ValueType,
    to_us,
)
from telequery.query import run as run_query
from telequery.query.datasets.events import SAMPLE_RATE

if TYPE_CHECKING:
    from telequery.store.base import Stats, Store

DEFAULT_EVENTS = 50
DEFAULT_GROUPS = 100
DEFAULT_INVOCATIONS = 50
MAX_INVOCATION_EVENTS = 10_000
DISTRIBUTION_BUCKETS = 20
# Auto granularity: the smallest of these steps that gives at most AUTO_BUCKETS buckets.
NICE_STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400, 172800, 604800)
AUTO_BUCKETS = 60

COUNT = Measure(Agg.COUNT, None, "__n")  # weighted by sample interval
ROWS = Measure(Agg.SUM, SAMPLE_RATE, "__r", ValueType.NUMBER)  # stored rows: sum(si * 1/si)
ERRORS = Measure(Agg.COUNT, "$metadata.error", "__e", ValueType.STRING)


@dataclass
class Outcome:
    """The view's part of the response, the statistics of every statement, the buckets."""

    body: dict[str, object]
    stats: list[Stats] = field(default_factory=list)
    granularity: int = 0


def bucketing(req: QueryRequest) -> Bucketing:
    if req.granularity:
        return Bucketing(count=req.granularity)
    span = req.time_range.span.total_seconds()
    for step in NICE_STEPS:
        if span / step <= AUTO_BUCKETS:
            return Bucketing(interval_seconds=step)
    return Bucketing(interval_seconds=math.ceil(span / AUTO_BUCKETS))


def bucket_count(req: QueryRequest) -> int:
    step = bucketing(req).step_us(req.time_range)
    start, end = to_us(req.time_range.start), to_us(req.time_range.end)
    first = start // step * step
    return -(-(end - first) // step)


def and_(f: Filter | None, c: Filter) -> Filter:
    """``f AND c`` without adding a nesting level when ``f`` already is an and-group."""
    if f is None:
        return c
    if isinstance(f, FilterGroup) and f.combinator == "and":
        return FilterGroup("and", (*f.children, c))
    return FilterGroup("and", (f, c))


def _base(req: QueryRequest, **kw: object) -> Query:
    p = req.params
    return Query(dataset="events", time_range=req.time_range, filter=p.filter, needle=p.needle,
                 datasets=p.datasets, **kw)  # type: ignore[arg-type]


def _run(store: Store, q: Query, org: str, out: Outcome) -> Result:
    result = run_query(store, q, org)
    out.stats.append(result.stats)
    if result.previous is not None:
        out.stats.append(result.previous.stats)
    return result


# -- calculations -------------------------------------------------------------------------
def calculations(store: Store, req: QueryRequest, org: str) -> Outcome:
    if req.chart_type == "distribution":
        return distribution(store, req, org)
    p = req.params
    calcs = p.calcs or [render.default_count()]
    limit = p.limit if p.limit is not None else req.limit
    if limit is None and p.group_by:
        limit = DEFAULT_GROUPS
    q = _base(req, measures=(*[c.measure for c in calcs], COUNT, ROWS), group_by=p.group_by,
              havings=p.havings, order_by=p.order_by, limit=limit, offset=req.offset_by,
              compare=req.compare)
    out = Outcome({})
    want_agg = req.chart_type in ("timeseries_and_aggregate", "aggregate")
    want_series = req.chart_type in ("timeseries_and_aggregate", "timeseries") and \
        not req.ignore_series and req.chart is not False
    agg = _run(store, q, org, out) if want_agg else None
    series = _run(store, replace(q, bucket=bucketing(req)), org, out) if want_series else None
    out.granularity = bucket_count(req)
    dims = [d.name for d in p.group_by]
    out.body["calculations"] = render.calculations(calcs, dims, agg, series)
    if req.compare:
        out.body["compare"] = render.calculations(calcs, dims, agg and agg.previous,
                                                  series and series.previous)
    return out


def _edges(lo: float, hi: float, scale: str, n: int = DISTRIBUTION_BUCKETS) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    if scale == "log" and hi > 0:
        low = max(lo, hi * 1e-6) if lo > 0 else max(hi * 1e-6, 1e-9)
        ratio = (hi / low) ** (1 / n)
        edges = [low * ratio**i for i in range(n)] + [hi]
        if lo < low:
            edges = [lo, *edges[1:]]
        return edges
    width = (hi - lo) / n
    return [lo + width * i for i in range(n)] + [hi]


def distribution(store: Store, req: QueryRequest, org: str) -> Outcome:
    calc = next((c for c in req.params.calcs if c.key), None)
    if calc is None:
        raise bad("parameters.calculations", "chartType 'distribution' needs a calculation "
                                             "with a numeric key")
    present = Condition(calc.key, Op.EXISTS, None, ValueType.NUMBER)  # type: ignore[arg-type]
    out = Outcome({})
    bounds = _run(store, replace(_base(req), filter=and_(req.params.filter, present),
                                 measures=(Measure(Agg.MIN, calc.key, "lo", ValueType.NUMBER),
                                           Measure(Agg.MAX, calc.key, "hi",
                                                   ValueType.NUMBER))), org, out)
    lo, hi = bounds.rows[0] if bounds.rows else (None, None)
    scale = req.distribution_scale
    edges = _edges(float(lo), float(hi), scale) if lo is not None else [0.0, 1.0]
    q = replace(_base(req), filter=and_(req.params.filter, present), measures=(COUNT,),
                group_by=(Dimension(calc.key, ValueType.NUMBER, "__bin",  # type: ignore
                                    tuple(edges)),),
                bucket=bucketing(req))
    hist = _run(store, q, org, out)
    out.granularity = bucket_count(req)
    out.body["distribution"] = render.distribution(hist, edges, scale)
    return out


# -- events -------------------------------------------------------------------------------
# Fields whose equality picks out one trace, conversation, invocation or event: so few
# rows that narrowing the page to the newest buckets (``newest_window``) saves nothing.
_SELECTIVE = frozenset({"$metadata.traceId", "$metadata.conversationId", "$metadata.requestId",
                        "$workers.requestId", "$metadata.spanId", "$metadata.id"})
_SIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="telequery-side")


def _selective(f: Filter | None) -> bool:
    """True when ``f`` requires one of the ``_SELECTIVE`` fields to equal a value."""
    if isinstance(f, Condition):
        return f.op is Op.EQ and f.field in _SELECTIVE
    if isinstance(f, FilterGroup) and f.combinator == "and":
        return any(_selective(c) for c in f.children)
    return False


def events(store: Store, req: QueryRequest, org: str) -> Outcome:
    limit = req.limit if req.limit is not None else DEFAULT_EVENTS
    f = req.params.filter
    order: tuple[OrderBy, ...] = ()
    if req.offset:
        # Ids sort with time (their prefix is the timestamp), so the cursor is an id bound.
        op = Op.LT if req.offset_direction == "next" else Op.GT
        f = and_(f, Condition("$metadata.id", op, req.offset))
        if req.offset_direction == "prev":
            order = (OrderBy("$metadata.id", descending=False),)
    out = Outcome({})
    series_q = replace(_base(req), measures=(COUNT, ROWS, ERRORS), bucket=bucketing(req))
    q = replace(_base(req), filter=f, limit=limit, offset=req.offset_by, order_by=order,
                columns=render.EVENT_COLUMNS)
    if req.offset or _selective(req.params.filter):
        # Nothing to narrow (a cursor page, or a filter that picks out a few rows): the
        # page runs next to the series, on a cursor of its own (one conversation's events
        # at 100M: 15 -> 11 ms).
        pending = _SIDE.submit(run_query, store, q, org)
        series = _run(store, series_q, org, out)
        page = pending.result()
        out.stats.append(page.stats)
    else:
        series = _run(store, series_q, org, out)
        q = replace(q, time_range=newest_window(series, req.time_range, limit + req.offset_by))
        page = _run(store, q, org, out)
    rows = page.rows[::-1] if order else page.rows
    out.granularity = bucket_count(req)
    out.body["events"] = render.events_view(page.columns, rows, series,
                                            include_series=not req.ignore_series)
    return out


def newest_window(series: Result, time_range: TimeRange, need: int) -> TimeRange:
    """The newest part of ``time_range`` made of whole buckets of ``series`` (the matching
    rows per bucket, same filter) that holds at least ``need`` matching rows.

    Why: the newest ``need`` rows all lie in it (every row outside is older), so the page
    query returns the same rows while scanning, and testing the needle on, only the
    newest buckets instead of the whole range (a day of needle search: ~120 ms -> ~5 ms).
    """
    if need <= 0:
        return time_range
    ri = series.columns.index("__r")
    found = 0
    for r in reversed(series.rows):
        found += round(float(render.number(r[ri])))  # stored rows: sum(si * 1/si)
        if found >= need:
            start = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(r[0]))
            if start > time_range.start:
                return TimeRange(start, time_range.end)
            break
    return time_range


def invocations(store: Store, req: QueryRequest, org: str) -> Outcome:
    """Newest invocations (by their latest matching event) with all their events."""
    limit = req.limit if req.limit is not None else DEFAULT_INVOCATIONS
    last = Measure(Agg.MAX, "$metadata.startTime", "__last", ValueType.NUMBER)
    out = Outcome({})
    ids = _run(store, replace(_base(req), filter=and_(req.params.filter, Condition(
        "$metadata.requestId", Op.EXISTS)), measures=(last,),
        group_by=(Dimension("$metadata.requestId"),), order_by=(OrderBy("__last"),),
        limit=limit, offset=req.offset_by), org, out)
    request_ids = [r[0] for r in ids.rows]
    body: dict[str, list] = {}
    if request_ids:
        q = Query(dataset="events", time_range=req.time_range, datasets=req.params.datasets,
                  filter=Condition("$metadata.requestId", Op.IN, request_ids),
                  limit=MAX_INVOCATION_EVENTS, columns=render.EVENT_COLUMNS)
        page = _run(store, q, org, out)
        body = render.invocations(page.columns, page.rows, request_ids)
    out.granularity = bucket_count(req)
    out.body["invocations"] = body
    return out
