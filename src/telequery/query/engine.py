"""Run IR queries on a store: compile, execute, zero-fill buckets, compare windows.

This is the surface the API adapters and the CLI use; they never see SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telequery.query._compile import BUCKET, Compiled, compile_query
from telequery.query.errors import InvalidValue, LimitExceeded
from telequery.query.ir import ZERO_WHEN_EMPTY, Query
from telequery.query.limits import MAX_SERIES_POINTS

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.store.base import Stats, Store

DEFAULT_TIMEOUT = 30.0


@dataclass
class Result:
    """Rows of one query; for timeseries the first column is the bucket start (epoch µs)."""

    columns: list[str]
    rows: list[tuple]
    stats: Stats
    compiled: Compiled
    previous: Result | None = None  # the compare window, when asked for

    def dicts(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def run(store: Store, query: Query, org: str, *, timeout: float | None = DEFAULT_TIMEOUT
        ) -> Result:
    """Run ``query`` for ``org`` (and the previous window too when ``query.compare``)."""
    result = _run_one(store, query, org, timeout)
    if query.compare:
        try:
            window = query.time_range.previous()
        except OverflowError:
            raise InvalidValue("compare", "the previous window would start before the year "
                                          "1; shorten the time range") from None
        result.previous = _run_one(store, query.shifted_to(window), org, timeout)
    return result


def _run_one(store: Store, query: Query, org: str, timeout: float | None) -> Result:
    compiled = compile_query(query, org, store.dialect)
    raw = store.execute(compiled.sql, compiled.params, timeout=timeout)
    rows = raw.rows
    if compiled.shape == "timeseries":
        rows = zero_fill(compiled, rows)
    return Result(compiled.columns, rows, raw.stats, compiled)


def run_on_batch(batch: pa.Table, query: Query, org: str) -> Result:
    """``query`` (rows mode) over an Arrow batch of events rows, as it would run on the
    table: the same compiler, through DuckDB in memory whatever the store's engine."""
    from telequery.dialect import DuckDBDialect
    from telequery.store.duckdb import select_from_batch

    compiled = compile_query(query, org, DuckDBDialect())
    raw = select_from_batch(batch, compiled.sql, compiled.params)
    return Result(compiled.columns, raw.rows, raw.stats, compiled)


def zero_fill(compiled: Compiled, rows: list[tuple]) -> list[tuple]:
    """Every bucket of the grid for every group seen; empty buckets count 0.

    Counts, sums and uniq are 0 in an empty bucket; other measures (avg, percentiles,
    min/max) have no value there and are None. Rows found keep their tuple (a week of
    hourly buckets for 9 agents: 0.8 -> 0.45 ms).
    """
    assert compiled.grid is not None and compiled.columns[0] == BUCKET
    first, end, step = compiled.grid
    n_dims = len(compiled.dimensions)
    empty = tuple(0 if m.agg in ZERO_WHEN_EMPTY else None for m in compiled.measures)
    keys = [tuple(r[1:1 + n_dims]) for r in rows]
    found = {(int(r[0]), k): r if r[0].__class__ is int else (int(r[0]), *r[1:])
             for r, k in zip(rows, keys, strict=True)}
    ordered = sorted(dict.fromkeys(keys), key=_group_order)
    if not ordered and n_dims == 0:
        ordered = [()]
    points = len(range(first, end, step)) * len(ordered)
    if points > MAX_SERIES_POINTS:
        raise LimitExceeded("limit", f"{points:,} series points ({len(ordered):,} groups); "
                                     f"at most {MAX_SERIES_POINTS:,}: set a limit or fewer "
                                     "buckets")
    out = []
    for b in range(first, end, step):
        for g in ordered:
            r = found.get((b, g))
            out.append((b, *g, *empty) if r is None else r)
    return out


def _group_order(key: tuple) -> tuple:
    """Groups ascending, NULLs last: the order the SQL returns them in within a bucket."""
    return tuple((1, 0) if v is None else (0, v) for v in key)
