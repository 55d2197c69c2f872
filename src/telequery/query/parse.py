"""The IR as JSON, for the CLI (``telequery query``) and for tests.

```json
{"dataset": "events", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
 "filter": {"and": [{"field": "$metadata.service", "op": "eq", "value": "api"}]},
 "measures": [{"agg": "p99", "field": "$metadata.duration", "alias": "p99"}],
 "group_by": ["$metadata.service"], "order_by": [{"key": "p99", "desc": true}],
 "limit": 10, "bucket": {"interval_seconds": 3600}, "needle": {"value": "timeout"}}
```
"""

from __future__ import annotations

from datetime import datetime

from telequery.query.errors import InvalidValue
from telequery.query.ir import (
    Agg,
    Bucketing,
    Condition,
    Dimension,
    Filter,
    FilterGroup,
    Having,
    Measure,
    Needle,
    Op,
    OrderBy,
    Query,
    TimeRange,
    ValueType,
)


def _time(value: object, name: str) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return TimeRange.from_ms(int(value), int(value) + 1).start
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise InvalidValue(name, "expected an ISO-8601 time or epoch milliseconds")


def _enum(cls: type, value: object, name: str):  # type: ignore[no-untyped-def]
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidValue(name, f"{value!r} is not one of {allowed}") from None


def parse_filter(node: dict, depth: int = 0) -> Filter:
    for comb in ("and", "or"):
        if comb in node:
            children = node[comb]
            if not isinstance(children, list):
                raise InvalidValue("filter", f"{comb!r} needs a list")
            return FilterGroup(comb, tuple(parse_filter(c, depth + 1) for c in children))
    if "field" not in node or "op" not in node:
        raise InvalidValue("filter", "a leaf needs 'field' and 'op'")
    vtype = _enum(ValueType, node["type"], "filter.type") if node.get("type") else None
    return Condition(str(node["field"]), _enum(Op, node["op"], "filter.op"), node.get("value"),
                     vtype)


def query_from_dict(d: dict) -> Query:
    """Build a Query from its JSON form, raising InvalidValue on a bad shape."""
    if "from" not in d or "to" not in d:
        raise InvalidValue("from", "'from' and 'to' are required")
    try:
        tr = TimeRange(_time(d["from"], "from"), _time(d["to"], "to"))
    except ValueError as e:
        raise InvalidValue("to", str(e)) from None
    measures = tuple(
        Measure(_enum(Agg, m["agg"], "measures.agg"), m.get("field"), m.get("alias"),
                _enum(ValueType, m["type"], "measures.type") if m.get("type") else None)
        for m in d.get("measures", []))
    group_by = tuple(Dimension(g) if isinstance(g, str) else
                     Dimension(g["field"], alias=g.get("alias")) for g in d.get("group_by", []))
    bucket = None
    if d.get("bucket"):
        b = d["bucket"]
        bucket = Bucketing(b.get("interval_seconds"), b.get("count"))
    needle = None
    if d.get("needle"):
        n = d["needle"]
        needle = Needle(n["value"], bool(n.get("regex")), bool(n.get("match_case")))
    return Query(
        dataset=d.get("dataset", "events"),
        time_range=tr,
        filter=parse_filter(d["filter"]) if d.get("filter") else None,
        measures=measures,
        group_by=group_by,
        havings=tuple(Having(h["measure"], _enum(Op, h["op"], "havings.op"), float(h["value"]))
                      for h in d.get("havings", [])),
        order_by=tuple(OrderBy(o["key"], bool(o.get("desc", True)))
                       for o in d.get("order_by", [])),
        limit=d.get("limit"),
        offset=int(d.get("offset", 0)),
        bucket=bucket,
        needle=needle,
        compare=bool(d.get("compare")),
        datasets=tuple(d.get("datasets", [])),
        select=tuple(d.get("select", [])),
    )
