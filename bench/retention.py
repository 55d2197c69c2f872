"""Retention sweep: bytes on disk before and after, and how long the sweep takes.

`python -m bench.retention [--events N]`: generates N demo events over 7 days into a fresh
DuckDB and chDB store, then sweeps with a 3.5-day default window (about half the rows
expire) and prints one JSON line per engine: rows before/after, bytes before/after, sweep
seconds (delete + DuckDB compaction, or the ClickHouse mutation). Runs once per engine: a
sweep changes the data it measures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.retention import sweep
from telequery.store import open_store
from telequery.synth import generate


def run(engine: str, events: int, root: Path) -> dict[str, object]:
    spec = str(root / "duck") if engine == "duckdb" else f"chdb:{root / 'ch'}"
    store = open_store(spec)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    load(store, "bench", generate(42, events, end - timedelta(days=7), end))
    if hasattr(store, "checkpoint"):
        store.checkpoint()
    meta = Meta(root / f"meta-{engine}.sqlite")
    count = "SELECT count(*) FROM events"
    rows_before = store.execute(count).rows[0][0]
    t0 = time.perf_counter()
    result = sweep(store, meta, 3.5, now=end)
    seconds = time.perf_counter() - t0
    out = {"engine": engine, "events": events, "rows_before": rows_before,
           "rows_after": store.execute(count).rows[0][0], "deleted": result.deleted,
           "bytes_before": result.bytes_before, "bytes_after": result.bytes_after,
           "compacted": result.compacted, "sweep_s": round(seconds, 2)}
    store.close()
    meta.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--engines", default="duckdb,chdb")
    a = ap.parse_args()
    for engine in a.engines.split(","):
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(run(engine, a.events, Path(d))), flush=True)


if __name__ == "__main__":
    main()
