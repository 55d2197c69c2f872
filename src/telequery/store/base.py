"""The Store protocol: thin engines that run SQL and append rows.

A store does not know what a percentile means; it opens connections, runs SQL with
bound parameters, appends Arrow batches in one transaction, and reports statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.query.dialect import Dialect


@dataclass(frozen=True)
class Stats:
    """What a query cost: rows and bytes the engine read, wall time in seconds."""

    rows_read: int
    bytes_read: int
    elapsed: float


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    stats: Stats


class Store(Protocol):
    dialect: Dialect
    path: Path | None

    def append(self, batch: pa.Table) -> int:
        """Append rows in one transaction; return the count once durably committed."""
        ...

    def execute(self, sql: str, params: dict[str, object] | None = None,
                timeout: float | None = None) -> QueryResult:
        """Run one SELECT with bound parameters."""
        ...

    def bytes_on_disk(self) -> int: ...

    def close(self) -> None: ...


def open_store(spec: str, data_dir: Path | None = None, *,
               memory_limit: str | None = None) -> Store:
    """Open a store from a spec: a directory (DuckDB), ``chdb:DIR`` or ``clickhouse://``."""
    if spec.startswith("chdb:") or spec.startswith("clickhouse://") or \
            spec.startswith("clickhouses://"):
        from telequery.store.clickhouse import open_clickhouse

        return open_clickhouse(spec)
    from telequery.ingest.log import recover
    from telequery.store.duckdb import DuckDBStore

    store = DuckDBStore(Path(spec.removeprefix("duckdb:")), memory_limit=memory_limit)
    recover(store)  # rows a crashed server acknowledged but had not yet written
    return store
