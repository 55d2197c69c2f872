"""Data leaves as easily as it came in: an org's events as Parquet files.

``export_events`` writes one file per UTC day that has events
(``events-YYYY-MM-DD.parquet``, the ``events`` schema, maps as Parquet maps), reading
through the tenant-safe SQL path (``query.run_sql``): locally from a store, or from a
running server's ``POST /api/v1/sql`` as Arrow. A window with more rows than one answer
holds is halved until each part fits, so no value is ever written into SQL text.
``rows_to_arrow`` is also how the SQL endpoint answers Arrow and Parquet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from telequery.query import TimeRange, run_sql
from telequery.schema import arrow_schema
from telequery.store.base import Store

CHUNK_ROWS = 100_000
_TYPES = {f.name: f.type for f in arrow_schema()}
_DAYS = "SELECT date_trunc('day', timestamp) AS day, count(*) AS n FROM events GROUP BY day"
_ROWS = "SELECT * FROM events ORDER BY timestamp, id"

# (statement, start, end, limit) -> (rows as Arrow, whether the limit cut them)
Source = Callable[[str, datetime, datetime, int], tuple[pa.Table, bool]]


def _array(name: str, values: list[object]) -> pa.Array:
    known = _TYPES.get(name)
    if known is not None:
        if pa.types.is_map(known):
            values = [None if v is None else list(v.items()) if isinstance(v, dict) else v
                      for v in values]
        try:
            return pa.array(values, type=known)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a column of that name holding something else: infer below
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep them as JSON text
        return pa.array([None if v is None else orjson.dumps(v, default=str).decode()
                         for v in values], pa.string())


def rows_to_arrow(columns: list[str], rows: list[tuple]) -> pa.Table:
    """Rows as Arrow; a column named like an ``events`` column gets its stored type."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pa.Table.from_arrays([_array(n, list(v)) for n, v in zip(columns, values,
                                                                     strict=True)],
                                names=columns)


def local_source(store: Store, org: str) -> Source:
    def fetch(sql: str, start: datetime, end: datetime, limit: int) -> tuple[pa.Table, bool]:
        result = run_sql(store, sql, org, TimeRange(start, end), limit=limit, timeout=None)
        return rows_to_arrow(result.columns, result.rows), result.truncated
    return fetch


def remote_source(url: str, token: str) -> Source:
    import httpx

    def fetch(sql: str, start: datetime, end: datetime, limit: int) -> tuple[pa.Table, bool]:
        r = httpx.post(url.rstrip("/") + "/api/v1/sql", timeout=300, json={
            "sql": sql, "from": start.isoformat(), "to": end.isoformat(), "limit": limit},
            headers={"authorization": f"Bearer {token}",
                     "accept": "application/vnd.apache.arrow.stream"})
        if r.status_code != 200:
            raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:300]}")
        table = pa.ipc.open_stream(r.content).read_all()
        return table, r.headers.get("x-telequery-truncated") == "true"
    return fetch


def _rows(source: Source, start: datetime, end: datetime) -> list[pa.Table]:
    table, cut = source(_ROWS, start, end, CHUNK_ROWS)
    if not cut:
        return [table]
    if end - start <= timedelta(microseconds=2):
        raise RuntimeError(f"more than {CHUNK_ROWS} events in one microsecond at {start}")
    middle = start + (end - start) / 2
    return _rows(source, start, middle) + _rows(source, middle, end)


def export_events(source: Source, start: datetime, end: datetime, target: Path
                  ) -> list[tuple[Path, int]]:
    """Write the org's events of [start, end) into ``target``; (file, rows) per file."""
    target.mkdir(parents=True, exist_ok=True)
    days, _ = source(_DAYS, start, end, CHUNK_ROWS)  # days with data: far fewer
    written = []
    for value in sorted(d for d in days.column("day").to_pylist() if d is not None):
        day = datetime(value.year, value.month, value.day, tzinfo=UTC)  # a date or datetime
        day_start, day_end = max(start, day), min(end, day + timedelta(days=1))
        parts = [t.cast(arrow_schema()) for t in _rows(source, day_start, day_end)]
        table = pa.concat_tables(parts)
        path = target / f"events-{day:%Y-%m-%d}.parquet"
        pq.write_table(table, path)
        written.append((path, table.num_rows))
    return written
