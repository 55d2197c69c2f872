"""``/telemetry/keys`` and ``/telemetry/values``: what fields exist and what they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import re2

from telequery.api.workers import request as parse
from telequery.api.workers.request import bad
from telequery.api.workers.views import and_
from telequery.query import (
    Agg,
    Condition,
    Dimension,
    Measure,
    Op,
    OrderBy,
    Query,
    TimeRange,
    ValueType,
    discover_keys,
    to_us,
)
from telequery.query import run as run_query
from telequery.query.datasets.events import ATTRIBUTE_MAPS, LISTED_METADATA, WORKERS_COLUMNS

if TYPE_CHECKING:
    from telequery.store.base import Stats, Store

DEFAULT_KEYS_WINDOW = timedelta(hours=24)
DEFAULT_KEY_LIMIT = 1000
DEFAULT_VALUE_LIMIT = 50
LISTED_FIELDS = (*LISTED_METADATA, *(f"$workers.{k}" for k in WORKERS_COLUMNS),
                 "$workers.cpuTimeMs")


def _keys_range(b: dict) -> TimeRange:
    """``from``/``to`` at the top level, epoch ms; either may be omitted (last 24 hours)."""
    now_ms = to_us(datetime.now(UTC)) // 1000
    start = parse.integer(b.get("from"), "from", lo=0, hi=2**53)
    end = parse.integer(b.get("to"), "to", lo=0, hi=2**53)
    window = int(DEFAULT_KEYS_WINDOW.total_seconds() * 1000)
    if end is None:
        end = now_ms if start is None or start < now_ms else start + window
    if start is None:
        start = end - window
    return parse.time_range(start, end, "from")


def _filter_query(b: dict, tr: TimeRange) -> Query:
    return Query(dataset="events", time_range=tr,
                 filter=parse.filters(b.get("filters"), b.get("filterCombination"), "filters",
                                      "filterCombination"),
                 needle=parse.needle(b.get("needle"), "needle"),
                 datasets=parse.datasets(b.get("datasets"), "datasets"))


def keys(store: Store, org: str, body: object) -> tuple[list[dict[str, object]], Stats]:
    b = parse.obj(body, "body")
    q = _filter_query(b, _keys_range(b))
    limit = parse.integer(b.get("limit"), "limit", lo=1) or DEFAULT_KEY_LIMIT
    key_needle = parse.needle(b.get("keyNeedle"), "keyNeedle")
    found, stats = discover_keys(store, q, org, map_columns=ATTRIBUTE_MAPS,
                                 fields=LISTED_FIELDS)
    if key_needle is not None and key_needle.value:
        if key_needle.regex:
            pattern = re2.compile(key_needle.value if key_needle.match_case
                                  else "(?i)" + key_needle.value)
            found = [k for k in found if pattern.search(k.name)]
        elif key_needle.match_case:
            found = [k for k in found if key_needle.value in k.name]
        else:
            needle = key_needle.value.lower()
            found = [k for k in found if needle in k.name.lower()]
    return [{"key": k.name, "type": k.type.value, "lastSeenAt": k.last_seen_ms}
            for k in found[:limit]], stats


def values(store: Store, org: str, body: object) -> tuple[list[dict[str, object]], Stats]:
    """Distinct values of one key, most frequent first, with the dataset they occur in."""
    b = parse.obj(body, "body")
    key = parse.text(b.get("key"), "key")
    vtype = parse.vtype(b.get("type"), "type")
    if vtype is None:
        raise bad("type", "is required")
    _, _, tr = parse.timeframe(b)
    limit = parse.integer(b.get("limit"), "limit", lo=1) or DEFAULT_VALUE_LIMIT
    f = parse._field(key, vtype, "key")  # type: ignore[arg-type]
    if not f.groupable or f.type is ValueType.ARRAY:
        raise bad("key", f"cannot list the values of {key!r}")
    q = _filter_query(b, tr)
    present = Condition(key, Op.EXISTS, None, vtype)  # type: ignore[arg-type]
    q = Query(dataset="events", time_range=tr, filter=and_(q.filter, present), needle=q.needle,
              datasets=q.datasets,
              group_by=(Dimension(key, vtype, "__v"),  # type: ignore[arg-type]
                        Dimension("$metadata.dataset", None, "__ds")),
              measures=(Measure(Agg.COUNT, None, "__n"),), order_by=(OrderBy("__n"),),
              limit=limit)
    result = run_query(store, q, org)
    return [{"dataset": ds, "key": key, "type": f.type.value, "value": v}
            for v, ds, _ in result.rows], result.stats
