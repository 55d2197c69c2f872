"""The ``patterns`` view of ``telemetry/query``: message or error templates with counts.

Templates are mined at ingest (docs/patterns.md): every log row carries
``$metadata.messageTemplate`` and its ``$metadata.fingerprint``, and every row with an
error (log or span) ``$metadata.errorTemplate``. So a pattern list is an exact aggregate:
``GROUP BY template, service`` with a weighted count, the biggest first, plus one time
series per listed group (the compiler restricts the series to the aggregate's top groups).
The request's filters, needle and datasets select the events as in any other view.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from telequery.api.timefmt import iso_ms
from telequery.api.workers.request import bad
from telequery.api.workers.response import number
from telequery.api.workers.views import (
    COUNT,
    ROWS,
    Outcome,
    and_,
    bucket_count,
    bucketing,
)
from telequery.query import Condition, Dimension, Op, OrderBy, Query
from telequery.query import run as run_query

if TYPE_CHECKING:
    from telequery.api.workers.request import QueryRequest
    from telequery.store.base import Store

DEFAULT_PATTERNS = 50
PATTERN_TYPES = ("message", "error")
TEMPLATE_FIELD = {"message": "$metadata.messageTemplate", "error": "$metadata.errorTemplate"}
SERVICE = "$metadata.service"
FINGERPRINT = "$metadata.fingerprint"


def pattern_type(req: QueryRequest) -> str:
    """``patternType`` from the request (top level, else in ``parameters``); default
    ``message``."""
    value = getattr(req, "pattern_type", None)
    path = "patternType"
    if value is None:
        value, path = req.params.raw.get("patternType"), "parameters.patternType"
    if value is None:
        return "message"
    if value not in PATTERN_TYPES:
        raise bad(path, f"{value!r} is not one of {', '.join(PATTERN_TYPES)}")
    return str(value)


def _si(count: float, rows: float) -> float:
    n = round(rows)
    return count / n if n else 1.0


def patterns(store: Store, req: QueryRequest, org: str) -> Outcome:
    """``view: "patterns"``: ``[{pattern, count, service, series, ...}]``, biggest first."""
    kind = pattern_type(req)
    template = TEMPLATE_FIELD[kind]
    p = req.params
    dims = [Dimension(template), Dimension(SERVICE)]
    if kind == "message":  # the fingerprint is a function of the template: same groups
        dims.append(Dimension(FINGERPRINT))
    limit = p.limit if p.limit is not None else req.limit
    q = Query(dataset="events", time_range=req.time_range, datasets=p.datasets,
              filter=and_(p.filter, Condition(template, Op.EXISTS)), needle=p.needle,
              measures=(COUNT, ROWS), group_by=tuple(dims),
              order_by=(OrderBy(COUNT.name),), limit=limit or DEFAULT_PATTERNS,
              offset=req.offset_by)
    out = Outcome({})
    agg = run_query(store, q, org)
    out.stats.append(agg.stats)
    n_dims = len(dims)
    items: dict[tuple, dict[str, object]] = {}
    for r in agg.rows:
        count, rows = float(number(r[n_dims])), float(number(r[n_dims + 1]))  # type: ignore
        item: dict[str, object] = {"pattern": r[0], "count": count, "service": r[1] or "",
                                   "sampleInterval": _si(count, rows), "series": []}
        if kind == "message":
            item["fingerprint"] = r[2]
        items[tuple(r[:n_dims])] = item
    want_series = not req.ignore_series and req.chart is not False
    if items and want_series:
        series = run_query(store, replace(q, bucket=bucketing(req)), org)
        out.stats.append(series.stats)
        for r in series.rows:
            item = items.get(tuple(r[1:1 + n_dims]))
            if item is None:  # pragma: no cover - the series covers the top groups only
                continue
            count = float(number(r[1 + n_dims]))  # type: ignore[arg-type]
            si = _si(count, float(number(r[2 + n_dims])))  # type: ignore[arg-type]
            item["series"].append({"time": iso_ms(r[0]), "data": {  # type: ignore[union-attr]
                "count": count, "value": count, "interval": si, "sampleInterval": si}})
    out.body["patterns"] = list(items.values())
    out.granularity = bucket_count(req)
    return out
