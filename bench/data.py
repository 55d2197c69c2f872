"""Benchmark data: demo events at 1M / 10M / 100M, cached by (seed, size) under .bench-data/.

Rows come from the same bulk path as ``telequery demo`` (``synth.generate`` ->
``ingest.load.load``, i.e. the HTTP ingest mapping), so they equal what OTLP ingest would
store. To use both cores, the week is cut into time slices that two processes generate
independently, each from a seed derived from (seed, size, slice): the result depends only
on (seed, size), never on scheduling. Each slice is written once as a Parquet part (the
cache); the stores (DuckDB, chDB) are then filled from the parts in time order, so zone
maps and ClickHouse parts prune by time.

Layout of ``.bench-data/s{seed}-n{size}/``: ``parts/part-NNNNN.parquet`` + ``parts/DONE``,
``duckdb/`` (a DuckDB data directory) + ``duckdb/LOADED``, ``chdb/`` + ``chdb/LOADED``,
``meta/`` (SQLite metadata with the demo org's token, shared by both servers).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.store.base import Store

ROOT = Path(os.environ.get("BENCH_DATA", ".bench-data"))
RESULTS = ROOT / "results"
ORG = "demo"
SEED = 42
# A fixed week (Sunday 2026-11-15 .. Sunday 2026-11-22 UTC), so cached data and the query
# suite's time ranges never depend on when the benchmark runs.
END = datetime(2026, 11, 22, tzinfo=UTC)
DAYS = 7
START = END - timedelta(days=DAYS)
SLICE_EVENTS = 500_000  # events per generated slice (one Parquet part, one append)
ENGINES = ("duckdb", "chdb")


@dataclass(frozen=True)
class Slice:
    index: int
    seed: int
    events: int
    start: datetime
    end: datetime
    path: Path


# The DuckDB server runs with a fixed memory limit, so its peak RSS is a setting rather
# than 80% of whatever machine the bench runs on (the 100M target is 4 GiB).
MEMORY_LIMIT = "3GiB"
# A query faster than FAST_QUERY_S in the engine is timed FAST_QUERY_RUNS times (at least):
# the median of 5 runs of an 8 ms query moves with the machine's noise.
FAST_QUERY_S = 0.05
FAST_QUERY_RUNS = 21


def data_dir(size: int, seed: int = SEED) -> Path:
    return ROOT / f"s{seed}-n{size}"


def label(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size:,}"


def derived_seed(seed: int, size: int, k: int) -> int:
    digest = hashlib.sha256(f"telequery-bench:{seed}:{size}:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def slices(size: int, seed: int = SEED) -> list[Slice]:
    """Equal-length time slices; each gets events in proportion to the traffic curve."""
    from telequery.synth.generator import seasonality

    n = max(2, -(-size // SLICE_EVENTS))
    start_s = int(START.timestamp())
    length = DAYS * 86_400
    bounds = [start_s + length * k // n for k in range(n + 1)]
    # Integrate the generator's own seasonality per minute, so slice shares follow it.
    weights = [
        sum(seasonality(t * 1_000_000_000) for t in range(bounds[k], bounds[k + 1], 60))
        for k in range(n)
    ]
    total = sum(weights)
    counts, acc, given = [], 0.0, 0
    for w in weights:
        acc += w
        c = round(size * acc / total) - given
        counts.append(c)
        given += c
    parts = data_dir(size, seed) / "parts"
    return [
        Slice(
            k,
            derived_seed(seed, size, k),
            counts[k],
            datetime.fromtimestamp(bounds[k], UTC),
            datetime.fromtimestamp(bounds[k + 1], UTC),
            parts / f"part-{k:05d}.parquet",
        )
        for k in range(n)
    ]


class _ParquetSink:
    """A store stand-in for ``load``: appended batches go to one Parquet file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_suffix(".tmp")
        self.writer = None

    def append(self, batch: pa.Table) -> int:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, batch.schema, compression="zstd")
        self.writer.write_table(batch, row_group_size=128_000)
        return batch.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)


def _generate_slice(s: Slice) -> tuple[int, int, float]:
    """Worker: one slice through synth.generate + ingest.load.load into a Parquet part."""
    from telequery.ingest.load import load
    from telequery.synth import generate

    t0 = time.perf_counter()
    sink = _ParquetSink(s.path)
    rows = load(sink, ORG, generate(s.seed, s.events, s.start, s.end))  # type: ignore[arg-type]
    sink.close()
    return s.index, rows, time.perf_counter() - t0


def _read_part(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    from telequery.schema import arrow_schema

    return pq.read_table(path, schema=arrow_schema())


def _open_targets(size: int, seed: int, engines: tuple[str, ...]) -> dict[str, Store]:
    from telequery.store import open_store

    out: dict[str, Store] = {}
    base = data_dir(size, seed)
    for e in engines:
        d = base / e
        if (d / "LOADED").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)  # a half-loaded store is rebuilt from the parts
        d.mkdir(parents=True)
        out[e] = open_store(str(d) if e == "duckdb" else f"chdb:{d}")
    return out


def _finish(stores: dict[str, Store], size: int, seed: int, rows: int) -> None:
    base = data_dir(size, seed)
    for e, st in stores.items():
        if hasattr(st, "checkpoint"):
            st.checkpoint()  # type: ignore[attr-defined]
        st.close()
        (base / e / "LOADED").write_text(json.dumps({"rows": rows}))


def ensure(size: int, seed: int = SEED, engines: tuple[str, ...] = ENGINES, procs: int = 2) -> Path:
    """Make sure the parts and the stores for ``engines`` exist; return the data dir.

    Generation runs in ``procs`` processes; parts are appended to the stores in time order
    as they arrive, so loading overlaps generation. Prints rate and ETA.
    """
    base = data_dir(size, seed)
    parts_dir = base / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    plan = slices(size, seed)
    done = (parts_dir / "DONE").exists()
    stores = _open_targets(size, seed, engines)
    if done and not stores:
        return base
    todo = [s for s in plan if not s.path.exists()]
    what = ", ".join(stores) or "no store"
    print(
        f"  data {label(size)} (seed {seed}): {len(plan) - len(todo)}/{len(plan)} parts "
        f"cached; generating {sum(s.events for s in todo):,} events, loading {what}",
        flush=True,
    )
    t0 = time.perf_counter()
    rows = generated = 0
    ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
    pool = ctx.Pool(procs) if todo else None
    try:
        pending = pool.imap(_generate_slice, todo) if pool else iter(())
        todo_ix = {t.index for t in todo}
        for s in plan:
            if s.index in todo_ix:  # imap is ordered: the next result is this slice
                k, n, _ = next(pending)
                assert k == s.index
                generated += n
            if stores:
                table = _read_part(s.path)
                for st in stores.values():
                    st.append(table)
                rows += table.num_rows
                del table
            elapsed = time.perf_counter() - t0
            got = sum(p.events for p in plan[: s.index + 1])
            rate = got / elapsed if elapsed else 0.0
            eta = (size - got) / rate if rate else 0.0
            print(
                f"    {got:>12,}/{size:,} events  {rate:>9,.0f} ev/s  "
                f"elapsed {elapsed:6.0f} s  ETA {eta:6.0f} s",
                flush=True,
            )
    finally:
        if pool:
            pool.close()
            pool.join()
    (parts_dir / "DONE").write_text(json.dumps({"events": size, "seed": seed, "parts": len(plan)}))
    _finish(stores, size, seed, rows)
    took = time.perf_counter() - t0
    info = base / "timing.json"
    old = json.loads(info.read_text()) if info.exists() else {}
    old.update(
        {
            "seconds": round(took, 1),
            "rate": round(size / took) if took else 0,
            "generated": generated,
            "loaded": list(stores),
        }
    )
    if todo:
        old["generate_and_load_seconds"] = round(took, 1)
    info.write_text(json.dumps(old))
    print(f"  data {label(size)} ready in {took:.0f} s ({size / took:,.0f} events/s)", flush=True)
    return base


def token(size: int, seed: int = SEED) -> str:
    """The demo org's query token (created once, kept in meta/token.txt)."""
    from telequery.meta import Meta

    meta_dir = data_dir(size, seed) / "meta"
    meta_dir.mkdir(parents=True, exist_ok=True)
    f = meta_dir / "token.txt"
    if f.exists():
        return f.read_text().strip()
    meta = Meta(meta_dir / "meta.sqlite")
    tok = meta.create_token(ORG, ["query", "ingest", "admin"], name="bench")
    f.write_text(tok + "\n")
    return tok


def bytes_on_disk(size: int, engine: str, seed: int = SEED) -> int:
    d = data_dir(size, seed) / engine
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000000"]:
        ensure(int(float(arg)))
