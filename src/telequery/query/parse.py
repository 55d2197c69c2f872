"""The IR as JSON, for the CLI (``telequery query``), the native API and tests.

```json
{"dataset": "events", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z",
 "filter": {"and": [{"field": "$metadata.service", "op": "eq", "value": "api"}]},
 "measures": [{"agg": "p99", "field": "$metadata.duration", "alias": "p99"}],
 "group_by": ["$metadata.service"], "order_by": [{"key": "p99", "desc": true}],
 "limit": 10, "bucket": {"interval_seconds": 3600}, "needle": {"value": "timeout"}}
```

The JSON comes from the network (``POST /api/v1/query``), so every member's shape is
checked here and a bad one raises ``InvalidValue`` naming its path (``measures.0.agg``);
names, operators and values are then checked by the compiler as for every other API.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from telequery.query.errors import InvalidValue, LimitExceeded
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
    instant_ms,
)
from telequery.query.limits import MAX_FILTER_DEPTH

T = TypeVar("T")
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant datetime holds


def parse_time(value: object, name: str) -> datetime:
    """An instant as the IR takes it (ISO 8601 or epoch ms); ``name`` locates problems."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        if not 0 <= value <= _MAX_MS:
            raise InvalidValue(name, f"epoch milliseconds must be between 0 and {_MAX_MS}")
        return instant_ms(int(value))
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise InvalidValue(name, "expected an ISO-8601 time or epoch milliseconds")


def _enum(cls: type[T], value: object, name: str) -> T:
    try:
        return cls(value)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise InvalidValue(name, f"{value!r} is not one of {allowed}") from None


def _obj(v: object, name: str) -> dict:
    if not isinstance(v, dict):
        raise InvalidValue(name, "expected an object")
    return v


def _list(v: object, name: str) -> list:
    if not isinstance(v, list):
        raise InvalidValue(name, "expected an array")
    return v


def _str(v: object, name: str, *, required: bool = True) -> str | None:
    if v is None and not required:
        return None
    if not isinstance(v, str) or (required and not v):
        raise InvalidValue(name, "expected a non-empty string")
    return v


def _int(v: object, name: str, default: int | None) -> int | None:
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidValue(name, "expected a whole number")
    return v


def _num(v: object, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidValue(name, "expected a number")
    try:
        f = float(v)
    except OverflowError:
        raise InvalidValue(name, "expected a finite number") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise InvalidValue(name, "expected a finite number")
    return f


def _flag(v: object, name: str, default: bool) -> bool:
    if v is None:
        return default
    if not isinstance(v, bool):
        raise InvalidValue(name, "expected a boolean")
    return v


def _vtype(v: object, name: str) -> ValueType | None:
    return _enum(ValueType, v, name) if v else None


def parse_filter(node: object, depth: int = 0, name: str = "filter") -> Filter:
    node = _obj(node, name)
    if depth > MAX_FILTER_DEPTH:  # the compiler's limit, checked here before recursing on
        raise LimitExceeded("filter", f"filter groups nest deeper than {MAX_FILTER_DEPTH}")
    for comb in ("and", "or"):
        if comb in node:
            children = _list(node[comb], f"{name}.{comb}")
            return FilterGroup(comb, tuple(parse_filter(c, depth + 1, f"{name}.{comb}.{i}")
                                           for i, c in enumerate(children)))
    if "field" not in node or "op" not in node:
        raise InvalidValue(name, "a leaf needs 'field' and 'op'")
    return Condition(_str(node["field"], f"{name}.field"),  # type: ignore[arg-type]
                     _enum(Op, node["op"], f"{name}.op"), node.get("value"),
                     _vtype(node.get("type"), f"{name}.type"))


def _measure(m: object, name: str) -> Measure:
    m = _obj(m, name)
    return Measure(_enum(Agg, m.get("agg"), f"{name}.agg"),
                   _str(m.get("field"), f"{name}.field", required=False),
                   _str(m.get("alias"), f"{name}.alias", required=False),
                   _vtype(m.get("type"), f"{name}.type"))


def _dimension(g: object, name: str) -> Dimension:
    if isinstance(g, str) and g:
        return Dimension(g)
    g = _obj(g, name)
    return Dimension(_str(g.get("field"), f"{name}.field"),  # type: ignore[arg-type]
                     alias=_str(g.get("alias"), f"{name}.alias", required=False))


def _having(h: object, name: str) -> Having:
    h = _obj(h, name)
    return Having(_str(h.get("measure"), f"{name}.measure"),  # type: ignore[arg-type]
                  _enum(Op, h.get("op"), f"{name}.op"), _num(h.get("value"), f"{name}.value"))


def _order(o: object, name: str) -> OrderBy:
    o = _obj(o, name)
    return OrderBy(_str(o.get("key"), f"{name}.key"),  # type: ignore[arg-type]
                   _flag(o.get("desc"), f"{name}.desc", True))


def _bucket(b: object) -> Bucketing:
    b = _obj(b, "bucket")
    interval = b.get("interval_seconds")
    if interval is not None and _num(interval, "bucket.interval_seconds") <= 0:
        raise InvalidValue("bucket.interval_seconds", "must be positive")
    count = _int(b.get("count"), "bucket.count", None)
    if count is not None and count < 1:
        raise InvalidValue("bucket.count", "must be at least 1")
    return Bucketing(interval, count)  # type: ignore[arg-type]


def _needle(n: object) -> Needle:
    n = _obj(n, "needle")
    return Needle(_str(n.get("value"), "needle.value"),  # type: ignore[arg-type]
                  _flag(n.get("regex"), "needle.regex", False),
                  _flag(n.get("match_case"), "needle.match_case", False))


def _items(d: dict, key: str) -> list:
    return _list(d.get(key) if d.get(key) is not None else [], key)


def _strings(d: dict, key: str) -> tuple[str, ...]:
    return tuple(_str(v, f"{key}.{i}") for i, v in enumerate(_items(d, key)))  # type: ignore


def query_from_dict(d: object) -> Query:
    """Build a Query from its JSON form, raising InvalidValue on a bad shape."""
    d = _obj(d, "body")
    if "from" not in d or "to" not in d:
        raise InvalidValue("from", "'from' and 'to' are required")
    try:
        tr = TimeRange(parse_time(d["from"], "from"), parse_time(d["to"], "to"))
    except (TypeError, ValueError) as e:  # naive vs aware, or start not before end
        raise InvalidValue("to", str(e)) from None
    return Query(
        dataset=_str(d.get("dataset", "events"), "dataset"),  # type: ignore[arg-type]
        time_range=tr,
        filter=parse_filter(d["filter"]) if d.get("filter") else None,
        measures=tuple(_measure(m, f"measures.{i}") for i, m in enumerate(_items(d, "measures"))),
        group_by=tuple(_dimension(g, f"group_by.{i}")
                       for i, g in enumerate(_items(d, "group_by"))),
        havings=tuple(_having(h, f"havings.{i}") for i, h in enumerate(_items(d, "havings"))),
        order_by=tuple(_order(o, f"order_by.{i}") for i, o in enumerate(_items(d, "order_by"))),
        limit=_int(d.get("limit"), "limit", None),
        offset=_int(d.get("offset"), "offset", 0),  # type: ignore[arg-type]
        bucket=_bucket(d["bucket"]) if d.get("bucket") else None,
        needle=_needle(d["needle"]) if d.get("needle") else None,
        compare=_flag(d.get("compare"), "compare", False),
        datasets=_strings(d, "datasets"),
        select=_strings(d, "select"),
    )
