"""A plain-Python evaluator of the IR over rows: the independent answer the SQL must match.

It knows nothing of SQL or the compiler: rows are dicts of column values as the OTLP
mapping produced them, and every operator, measure and bucket is written out here from
the semantics in DESIGN.md (half-open time ranges, epoch-aligned buckets, linear
interpolation percentiles, counts weighted by sample_interval, negations matching absent
fields).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import re2

from telequery.query.datasets.events import METADATA_COLUMNS, WORKERS_COLUMNS
from telequery.query.ir import (
    QUANTILES,
    ZERO_WHEN_EMPTY,
    Agg,
    Condition,
    Filter,
    FilterGroup,
    Measure,
    Op,
    Query,
    ValueType,
    to_us,
)

NEEDLE_COLUMNS = ("message", "error", "span_name", "url", "service", "trace_id", "request_id")


def rows_of(columns: dict[str, list]) -> list[dict]:
    """Column lists (a mapping Batch) -> row dicts."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(),
                                                                     strict=True)]


def value(row: dict, name: str, vtype: ValueType | None) -> object:
    """A field's value in a row, as the catalog defines it."""
    for prefix, table in (("$metadata.", METADATA_COLUMNS), ("$workers.", WORKERS_COLUMNS)):
        if name.startswith(prefix):
            column = table[name[len(prefix):]]
            v = row[column]
            if column in ("timestamp", "end_time") and v is not None:
                return v // 1000  # epoch ms
            return v
    if vtype is ValueType.NUMBER:
        return row["attrs_number"].get(name)
    if vtype is ValueType.BOOLEAN:
        return row["attrs_bool"].get(name)
    v = row["attrs_string"].get(name)
    return v if v is not None else row["resource"].get(name)


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


def _positive(op: Op, v: object, target: object) -> bool | None:
    """Three-valued: None when the field is absent."""
    if v is None:
        return None
    if op in (Op.EQ, Op.NEQ):
        return v == target
    if op is Op.GT:
        return v > target  # type: ignore[operator]
    if op is Op.GTE:
        return v >= target  # type: ignore[operator]
    if op is Op.LT:
        return v < target  # type: ignore[operator]
    if op is Op.LTE:
        return v <= target  # type: ignore[operator]
    if op in (Op.IN, Op.NOT_IN):
        return v in target  # type: ignore[operator]
    if op is Op.BETWEEN:
        lo, hi = target  # type: ignore[misc]
        return lo <= v <= hi
    s = v if isinstance(v, str) else _text(v)
    if op in (Op.INCLUDES, Op.NOT_INCLUDES):
        return str(target) in s
    if op in (Op.STARTS_WITH, Op.NOT_STARTS_WITH):
        return s.startswith(str(target))
    if op in (Op.ENDS_WITH, Op.NOT_ENDS_WITH):
        return s.endswith(str(target))
    if op is Op.REGEX:
        return re2.search(str(target), s) is not None
    raise AssertionError(op)


def _coerce(vtype: ValueType, target: object) -> object:
    if vtype is ValueType.NUMBER:
        if isinstance(target, (list, tuple)):
            return [float(x) for x in target]
        return float(target)  # type: ignore[arg-type]
    return target


NEGATIVE = {Op.NEQ, Op.NOT_IN, Op.NOT_INCLUDES, Op.NOT_STARTS_WITH, Op.NOT_ENDS_WITH}


def field_type(name: str, vtype: ValueType | None) -> ValueType:
    from telequery.query.catalog import dataset

    return dataset("events").field(name, vtype).type


def matches(row: dict, f: Filter | None) -> bool:
    if f is None:
        return True
    if isinstance(f, FilterGroup):
        results = [matches(row, c) for c in f.children]
        if not results:
            return True
        return all(results) if f.combinator == "and" else any(results)
    return _leaf(row, f)


def _leaf(row: dict, c: Condition) -> bool:
    vtype = field_type(c.field, c.type)
    v = value(row, c.field, c.type)
    if c.op is Op.EXISTS:
        return v is not None
    if c.op is Op.IS_NULL:
        return (v is None) == (True if c.value is None else bool(c.value))
    target = c.value
    if c.op not in (Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH,
                    Op.ENDS_WITH, Op.NOT_ENDS_WITH, Op.REGEX):
        target = _coerce(vtype, target)
    if vtype is ValueType.NUMBER and v is not None:
        v = float(v)  # type: ignore[arg-type]
    result = _positive(c.op, v, target)
    if c.op in NEGATIVE:
        return result is not True
    return result is True


def needle_hit(row: dict, q: Query) -> bool:
    n = q.needle
    if n is None or n.value == "":
        return True
    texts = [row[c] for c in NEEDLE_COLUMNS if row[c] is not None]
    texts.append("\n".join(row["attrs_string"].values()))
    if n.regex:
        pattern = n.value if n.match_case else "(?i)" + n.value
        return any(re2.search(pattern, t) is not None for t in texts)
    if n.match_case:
        return any(n.value in t for t in texts)
    needle = n.value.lower()
    return any(needle in t.lower() for t in texts)


def select(rows: Iterable[dict], q: Query, org: str) -> list[dict]:
    """Rows of ``org`` in the time range that pass the filter and needle."""
    start, end = to_us(q.time_range.start), to_us(q.time_range.end)
    return [r for r in rows if r["org_id"] == org and start <= r["timestamp"] < end
            and (not q.datasets or r["dataset"] in q.datasets)
            and matches(r, q.filter) and needle_hit(r, q)]


def measure(rows: list[dict], m: Measure) -> object:
    w = [r["sample_interval"] for r in rows]
    if m.field is None:
        return float(sum(w))
    vtype = m.type or (ValueType.STRING if m.agg in (Agg.COUNT, Agg.UNIQ) else ValueType.NUMBER)
    vals = [(value(r, m.field, vtype), r["sample_interval"]) for r in rows]
    present = [(v, wt) for v, wt in vals if v is not None]
    xs = [v for v, _ in present]
    if m.agg is Agg.COUNT:
        return float(sum(wt for _, wt in present))
    if m.agg is Agg.UNIQ:
        return len(set(xs))
    if m.agg is Agg.MIN:
        return min(xs) if xs else None
    if m.agg is Agg.MAX:
        return max(xs) if xs else None
    nums = [float(x) for x in xs]
    if m.agg is Agg.SUM:
        return sum(float(v) * wt for v, wt in present)
    if m.agg is Agg.AVG:
        total = sum(wt for _, wt in present)
        return sum(float(v) * wt for v, wt in present) / total if total else None
    if m.agg is Agg.AVG_NONZERO:
        nz = [x for x in nums if x != 0]
        return sum(nz) / len(nz) if nz else 0
    if m.agg in QUANTILES:
        return quantile(nums, QUANTILES[m.agg])
    if m.agg in (Agg.STDDEV, Agg.VARIANCE):
        if len(nums) < 2:
            return None
        mean = sum(nums) / len(nums)
        var = sum((x - mean) ** 2 for x in nums) / (len(nums) - 1)
        return math.sqrt(var) if m.agg is Agg.STDDEV else var
    raise AssertionError(m.agg)


def quantile(xs: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (DuckDB quantile_cont, numpy 'linear')."""
    if not xs:
        return None
    s = sorted(xs)
    h = (len(s) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def _sort_key(v: object, descending: bool) -> tuple:
    """NULLs last in both directions, as the compiler orders."""
    if v is None:
        return (1, 0)
    if descending:
        return (0, -v) if isinstance(v, (int, float)) else (0, _Reversed(v))
    return (0, v)


class _Reversed:
    def __init__(self, v: object) -> None:
        self.v = v

    def __lt__(self, other: _Reversed) -> bool:
        return other.v < self.v  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.v == self.v


def aggregate(rows: list[dict], q: Query, org: str) -> list[tuple]:
    """(dims..., measures...) per group, with havings, order, offset and limit applied."""
    groups: dict[tuple, list[dict]] = {}
    for r in select(rows, q, org):
        key = tuple(value(r, d.field, d.type) for d in q.group_by)
        groups.setdefault(key, []).append(r)
    if not q.group_by:
        groups.setdefault((), [])
    out = []
    for key, members in groups.items():
        vals = tuple(measure(members, m) for m in q.measures)
        by_name = {m.name: v for m, v in zip(q.measures, vals, strict=True)}
        if all(_having(by_name[h.measure], h.op, h.value) for h in q.havings):
            out.append(key + vals)
    n_dims = len(q.group_by)
    names = {d.name: i for i, d in enumerate(q.group_by)}
    names.update({m.name: n_dims + i for i, m in enumerate(q.measures)})
    keys: list[tuple[int, bool]] = [(names[o.key], o.descending) for o in q.order_by]
    if not q.order_by and q.measures and q.limit is not None and n_dims:
        keys.append((n_dims, True))
    keys += [(i, False) for i in range(n_dims)]
    for idx, desc in reversed(keys):
        out.sort(key=lambda t, i=idx, d=desc: _sort_key(t[i], d))
    out = out[q.offset:]
    if q.limit is not None:
        out = out[: q.limit]
    return out


def _having(v: object, op: Op, target: float) -> bool:
    if v is None:
        return False
    if op is Op.NEQ:
        return float(v) != target  # type: ignore[arg-type]
    return bool(_positive(op, float(v), target))  # type: ignore[arg-type]


def timeseries(rows: list[dict], q: Query, org: str) -> list[tuple]:
    """(bucket µs, dims..., measures...) for every bucket of the grid and every group."""
    assert q.bucket is not None
    step = q.bucket.step_us(q.time_range)
    start, end = to_us(q.time_range.start), to_us(q.time_range.end)
    chosen = select(rows, q, org)
    n_dims = len(q.group_by)
    if q.group_by and (q.limit is not None or q.havings):
        top = {t[:n_dims] for t in aggregate(rows, q, org)}
        chosen = [r for r in chosen
                  if tuple(value(r, d.field, d.type) for d in q.group_by) in top]
    cells: dict[tuple, list[dict]] = {}
    groups: dict[tuple, None] = {}
    for r in chosen:
        key = tuple(value(r, d.field, d.type) for d in q.group_by)
        groups.setdefault(key, None)
        cells.setdefault((r["timestamp"] // step * step, key), []).append(r)
    if not groups and not n_dims:
        groups[()] = None
    empty = tuple(0 if m.agg in ZERO_WHEN_EMPTY else None for m in q.measures)
    out = []
    for b in range(start // step * step, end, step):
        for g in sorted(groups, key=lambda k: tuple(_sort_key(v, False) for v in k)):
            members = cells.get((b, g))
            vals = tuple(measure(members, m) for m in q.measures) if members else empty
            out.append((b, *g, *vals))
    return out


def close(a: object, b: object) -> bool:
    """Equal, with a relative tolerance for floats."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def same_rows(got: list[tuple], want: list[tuple]) -> bool:
    return len(got) == len(want) and all(
        len(g) == len(w) and all(close(x, y) for x, y in zip(g, w, strict=True))
        for g, w in zip(got, want, strict=True))
