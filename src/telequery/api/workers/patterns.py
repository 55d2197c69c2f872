"""The ``patterns`` view of ``telemetry/query``: message or error templates with counts.

Templates are mined at ingest (docs/patterns.md): every log row carries
``$metadata.messageTemplate`` and its ``$metadata.fingerprint``, and every row with an
error (log or span) ``$metadata.errorTemplate``. A pattern list is then an exact
aggregate, ``GROUP BY template, service`` with a weighted count, whose templates are
merged into patterns (``telequery.patterns.merge``: templates one word slot apart are one
message shape), the biggest first, plus one time series per listed pattern summed over its
templates. The request's filters, needle and datasets select the events as in any other
view.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
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
from telequery.patterns import fingerprint
from telequery.patterns.merge import merge_templates
from telequery.query import Condition, Dimension, Filter, FilterGroup, Op, OrderBy, Query
from telequery.query import run as run_query

if TYPE_CHECKING:
    from telequery.api.workers.request import QueryRequest
    from telequery.store.base import Stats, Store

DEFAULT_PATTERNS = 50
PATTERN_TYPES = ("message", "error")
TEMPLATE_FIELD = {"message": "$metadata.messageTemplate", "error": "$metadata.errorTemplate"}
SERVICE = "$metadata.service"
# Template groups read to merge into patterns (the largest first); the rest of a very
# long tail is left out of the list.
MERGE_SCAN = 5000


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


@dataclass
class _Pattern:
    """One listed pattern: its text and service, and the stored templates it covers."""

    text: str
    service: str
    count: float = 0.0
    rows: float = 0.0
    templates: list[str] = field(default_factory=list)


def _merged(rows: list[tuple]) -> list[_Pattern]:
    """Template groups ``(template, service, count, rows)`` merged into patterns,
    biggest first (ties by text, so pages are stable). Which slots vary is learnt from
    every service's templates; a pattern is still listed per service."""
    pattern_of = merge_templates(r[0] for r in rows)
    patterns: dict[tuple[str, str], _Pattern] = {}
    for template, service, count, n in rows:
        key = (pattern_of[template], service or "")
        p = patterns.get(key) or patterns.setdefault(key, _Pattern(*key))
        p.count += float(number(count))  # type: ignore[arg-type]
        p.rows += float(number(n))  # type: ignore[arg-type]
        p.templates.append(template)
    return sorted(patterns.values(), key=lambda p: (-p.count, p.text, p.service))


def patterns(store: Store, req: QueryRequest, org: str) -> Outcome:
    """``view: "patterns"``: ``[{pattern, count, service, series, ...}]``, biggest first.

    Every pattern carries ``templates``, the stored templates it covers (filter
    ``$metadata.messageTemplate`` or ``errorTemplate`` ``in`` those to see its events);
    message patterns also ``fingerprint`` (of the pattern) and ``fingerprints`` (of those
    templates: the same events through ``$metadata.fingerprint``)."""
    kind = pattern_type(req)
    template = TEMPLATE_FIELD[kind]
    p = req.params
    dims = (Dimension(template), Dimension(SERVICE))
    limit = p.limit if p.limit is not None else req.limit
    limit = limit or DEFAULT_PATTERNS
    q = Query(dataset="events", time_range=req.time_range, datasets=p.datasets,
              filter=and_(p.filter, Condition(template, Op.EXISTS)), needle=p.needle,
              measures=(COUNT, ROWS), group_by=dims, order_by=(OrderBy(COUNT.name),),
              limit=MERGE_SCAN)
    out = Outcome({})
    agg = run_query(store, q, org)
    out.stats.append(agg.stats)
    listed = _merged([tuple(r) for r in agg.rows])[req.offset_by:req.offset_by + limit]
    items: dict[tuple[str, str], dict[str, object]] = {}
    index: dict[tuple[str, str], dict[str, object]] = {}
    for pat in listed:
        item: dict[str, object] = {"pattern": pat.text, "count": pat.count,
                                   "service": pat.service,
                                   "sampleInterval": _si(pat.count, pat.rows), "series": [],
                                   "templates": sorted(pat.templates)}
        if kind == "message":
            item["fingerprint"] = fingerprint(pat.text)
            item["fingerprints"] = sorted(fingerprint(t) for t in pat.templates)
        items[(pat.text, pat.service)] = item
        for t in pat.templates:
            index[(t, pat.service)] = item
    want_series = not req.ignore_series and req.chart is not False
    if items and want_series:
        out.stats.append(_series(store, req, org, q, index))
    out.body["patterns"] = list(items.values())
    out.granularity = bucket_count(req)
    return out


def _service_is(service: str) -> Filter:
    """``$metadata.service`` equal to ``service``; "" stands for absent or empty."""
    if service:
        return Condition(SERVICE, Op.EQ, service)
    return FilterGroup("or", (Condition(SERVICE, Op.IS_NULL), Condition(SERVICE, Op.EQ, "")))


def _series(store: Store, req: QueryRequest, org: str, q: Query,
            index: dict[tuple[str, str], dict[str, object]]) -> Stats:
    """Fill each listed pattern's series: the bucketed counts of its templates, summed."""
    by_service: dict[str, set[str]] = defaultdict(set)
    for template, service in index:
        by_service[service].add(template)
    listed = FilterGroup("or", tuple(
        FilterGroup("and", (Condition(q.group_by[0].field, Op.IN, sorted(templates)),
                            _service_is(service)))
        for service, templates in sorted(by_service.items())))
    series = run_query(store, replace(q, bucket=bucketing(req), limit=len(index),
                                      filter=and_(q.filter, listed)), org)
    sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    items: dict[int, dict[str, object]] = {}
    for r in series.rows:
        item = index.get((r[1], r[2] or ""))
        if item is None:  # the same template text under a service not listed
            continue
        items[id(item)] = item
        acc = sums[(id(item), iso_ms(r[0]))]
        acc[0] += float(number(r[3]))  # type: ignore[arg-type]
        acc[1] += float(number(r[4]))  # type: ignore[arg-type]
    for (key, time), (count, rows) in sorted(sums.items(), key=lambda kv: kv[0][1]):
        si = _si(count, rows)
        items[key]["series"].append({"time": time, "data": {  # type: ignore[union-attr]
            "count": count, "value": count, "interval": si, "sampleInterval": si}})
    return series.stats
