"""Key discovery: which fields exist in the events a query matches, their types, and when
each was last seen (the Workers Observability ``/telemetry/keys`` endpoint).

Keys come from two places: the keys of the typed attribute maps (each map holds one type)
and the catalog fields of a dataset that are non-null in some matching row.

Cost at scale: unnesting every map of every event in a 10M-row window is the expensive
part, so only the newest ``scan_rows`` matching events are read: a first statement finds
the time of the scan_rows-th newest matching event (a top-N over the time column alone),
and the key statements then scan ``[that time, end)`` with no sort, each map branch
reading only its own column.
``lastSeenAt`` is exact for every key returned (the newest rows are always scanned); a
key that only appears in older rows than that is not listed: narrow the time range or add
filters to find it. Both statements share the tenant, time, dataset, filter and needle
predicates of ``compile_relation``, so they are scoped to the org like every query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC
from typing import TYPE_CHECKING

from sqlglot import exp

from telequery.dialect import lit
from telequery.query import catalog
from telequery.query._compile import compile_relation
from telequery.query.errors import InvalidValue
from telequery.query.ir import Query, TimeRange, ValueType
from telequery.store.base import Stats

if TYPE_CHECKING:
    from telequery.dialect import Dialect
    from telequery.store.base import Store

KEY_SCAN_ROWS = 200_000


@dataclass(frozen=True)
class Key:
    name: str
    type: ValueType
    last_seen_ms: int  # floor of the epoch µs, like the events' own timestamps


Statement = tuple[str, dict[str, object]]  # SQL and its bound parameters


def newest_sql(query: Query, org: str, d: Dialect, scan_rows: int = KEY_SCAN_ROWS
               ) -> Statement:
    """The time of the ``scan_rows``-th newest matching row (a top-N on the time column
    only, so the map columns are then read for the kept rows alone, with no sort)."""
    ds = catalog.dataset(query.dataset)
    if ds.derive is not None:
        raise InvalidValue("dataset", "key discovery works on base datasets only")
    rel, where, params = compile_relation(query, org, d)
    ts = exp.column(ds.time_column, quoted=True)
    sel = exp.select(ts).from_(rel)
    if where is not None:
        sel = sel.where(where)
    sel = sel.order_by(exp.Ordered(this=ts, desc=True)).limit(lit(1)).offset(
        lit(int(scan_rows) - 1))
    return d.render(sel), params.values


def map_keys_sql(query: Query, org: str, d: Dialect,
                 map_columns: tuple[tuple[str, ValueType], ...]) -> Statement:
    """Attribute map keys with their newest time: UNION ALL of one unnest per map (each
    reads one map column)."""
    ds = catalog.dataset(query.dataset)
    ts = exp.column(ds.time_column, quoted=True)
    rel, where, params = compile_relation(query, org, d)
    parts = []
    for m, t in map_columns:
        part = exp.select(exp.alias_(d.unnest(d.map_keys(exp.column(m, quoted=True))), "k"),
                          exp.alias_(lit(t.value), "t"), exp.alias_(ts, "ts")).from_(rel.copy())
        parts.append(part.where(where.copy()) if where is not None else part)
    union: exp.Expression = parts[0]
    for p in parts[1:]:
        union = exp.union(union, p, distinct=False)
    sel = (exp.select(exp.column("k"), exp.column("t"),
                      exp.alias_(d.epoch_us(exp.Max(this=exp.column("ts"))), "last"))
           .from_(union.subquery("x")).group_by(exp.column("k"), exp.column("t")))
    return d.render(sel), params.values


def field_keys_sql(query: Query, org: str, d: Dialect, fields: tuple[str, ...]
                   ) -> Statement:
    """The newest time each catalog field is non-null, in one pass."""
    ds = catalog.dataset(query.dataset)
    ts = exp.column(ds.time_column, quoted=True)
    rel, where, params = compile_relation(query, org, d)
    cols = []
    for i, name in enumerate(fields):
        present = exp.Not(this=exp.Is(this=ds.field(name).build(d, params),
                                      expression=exp.null()))
        cols.append(exp.alias_(d.epoch_us(exp.Max(this=exp.If(
            this=present, true=ts, false=exp.null()))), f"c{i}"))
    sel = exp.select(*cols).from_(rel)
    if where is not None:
        sel = sel.where(where)
    return d.render(sel), params.values


def _newest(store: Store, query: Query, org: str, scan_rows: int, timeout: float | None
            ) -> tuple[Query, Stats]:
    """``query`` narrowed to its newest ``scan_rows`` rows (``newest_sql``)."""
    sql, params = newest_sql(query, org, store.dialect, scan_rows)
    raw = store.execute(sql, params, timeout=timeout)
    if not raw.rows or raw.rows[0][0] is None:
        return query, raw.stats
    cutoff = raw.rows[0][0]
    cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    return replace(query, time_range=TimeRange(cutoff, query.time_range.end)), raw.stats


def discover_keys(store: Store, query: Query, org: str, *, map_columns: tuple[tuple[str,
                  ValueType], ...], fields: tuple[str, ...], scan_rows: int = KEY_SCAN_ROWS,
                  timeout: float | None = 30.0) -> tuple[list[Key], Stats]:
    """Keys of ``map_columns`` and the catalog ``fields`` present in matching rows.

    Returns keys newest first (ties by name), one per (name, type), and the summed
    statistics of the statements.
    """
    d = store.dialect
    ds = catalog.dataset(query.dataset)
    query, first = _newest(store, query, org, scan_rows, timeout)
    stats: list[Stats] = [first]
    sql, params = map_keys_sql(query, org, d, map_columns)
    raw = store.execute(sql, params, timeout=timeout)
    stats.append(raw.stats)
    keys = [Key(k, ValueType(t), int(last) // 1000) for k, t, last in raw.rows if k]
    if fields:
        sql, params = field_keys_sql(query, org, d, fields)
        raw = store.execute(sql, params, timeout=timeout)
        stats.append(raw.stats)
        row = raw.rows[0] if raw.rows else ()
        for name, last in zip(fields, row, strict=False):
            if last is not None:
                keys.append(Key(name, ds.field(name).type, int(last) // 1000))
    keys.sort(key=lambda k: (-k.last_seen_ms, k.name, k.type.value))
    total = Stats(sum(s.rows_read for s in stats), sum(s.bytes_read for s in stats),
                  sum(s.elapsed for s in stats))
    return keys, total
