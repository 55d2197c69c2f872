"""``telequery migrate``: copy the embedded DuckDB store into a ClickHouse store.

Its own module so that neither store imports the other: this one reads the DuckDB file
and writes through the target store's append, like ingest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from telequery.schema import COLUMN_NAMES, arrow_schema
from telequery.store.clickhouse import ClickHouseError

if TYPE_CHECKING:
    from collections.abc import Callable


def migrate(source_dir: Path, target_spec: str, *, batch_rows: int = 100_000,
            progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Copy every row of the embedded DuckDB store in ``source_dir`` to ``target_spec``.

    Reads the DuckDB file read-only, in (org, dataset, time) order, and appends Arrow
    batches through the target store (the same committed-insert path as ingest). Returns
    (rows read, rows written). Not idempotent: run it once, into an empty target.
    """
    import duckdb

    from telequery.store.base import open_store
    from telequery.store.duckdb import DB_FILE, maps_from_entry_lists

    db = Path(source_dir) / DB_FILE
    if not db.exists():
        raise ClickHouseError(f"no DuckDB store at {source_dir} ({db} is missing)")
    target = open_store(target_spec)
    con = duckdb.connect(str(db), read_only=True)
    read = written = 0
    try:
        names = ", ".join(f'"{c}"' for c in COLUMN_NAMES)
        reader = con.sql(f"SELECT {names} FROM events ORDER BY org_id, dataset, "
                             f"timestamp").to_arrow_reader(batch_rows)
        schema = arrow_schema()
        for rb in reader:
            batch = maps_from_entry_lists(pa.Table.from_batches([rb])).cast(schema)
            read += batch.num_rows
            written += target.append(batch)
            if progress:
                progress(batch.num_rows)
    finally:
        con.close()
        target.close()
    return read, written
