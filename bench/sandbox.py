"""What confining user SQL costs (issue 29): the checks' time per statement, A/B.

`python -m bench.sandbox [--events N] [--runs R]`: generates N demo events into a fresh
DuckDB and chDB store and runs a few representative statements of `POST /api/v1/sql`, each
R times in alternation, both ways in the same process over the same data:
- A (before issue 29): the statement compiled and scoped as before (sqlglot's parse, the
  allow-list, the scoping subqueries, render) and run unconfined;
- B (now): `run_sql`: the same, plus the rendered text parsed back in the engine's
  dialect, and the engine's own parser check (`Confined`) before it runs.
Prints the medians and writes the section "## SQL confinement" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlglot import exp

from bench.machine import cpu_model
from bench.report import write_section
from telequery.ingest.load import load
from telequery.query import TimeRange, run_sql
from telequery.query import sql as user_sql
from telequery.store import open_store
from telequery.synth import generate

STATEMENTS = {
    "count": "SELECT count(*) FROM spans",
    "group by": "SELECT service, count(*) AS n, quantile(duration_ms, 0.99) AS p99 FROM spans "
                "GROUP BY service ORDER BY n DESC",
    "cte join": "WITH t AS (SELECT traceId, spans FROM traces) SELECT s.service, "
                "count(*) FROM spans s JOIN t ON t.traceId = s.trace_id GROUP BY 1",
}
ORG = "bench"


def _unconfined(store, text: str, window: TimeRange) -> None:  # type: ignore[no-untyped-def]
    """The path before issue 29: no re-parse, no engine check."""
    check, around = user_sql._check_rendered, user_sql._without_views
    user_sql._check_rendered = lambda *_a, **_k: None
    user_sql._without_views = lambda _tree: exp.select(exp.Literal.number(1))
    try:
        compiled = user_sql.compile_sql(text, ORG, window, store.dialect, max_rows=10_001)
    finally:
        user_sql._check_rendered, user_sql._without_views = check, around
    store.execute(compiled.sql, compiled.params)


def run(engine: str, events: int, runs: int, root: Path) -> list[tuple[str, float, float]]:
    spec = str(root / "duck") if engine == "duckdb" else f"chdb:{root / 'ch'}"
    store = open_store(spec)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    load(store, ORG, generate(42, events, end - timedelta(days=1), end))
    window = TimeRange(end - timedelta(days=2), end + timedelta(hours=1))
    out = []
    for name, text in STATEMENTS.items():
        a, b = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            _unconfined(store, text, window)
            a.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_sql(store, text, ORG, window, limit=10_000)
            b.append(time.perf_counter() - t0)
        out.append((name, statistics.median(a) * 1000, statistics.median(b) * 1000))
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--engines", default="duckdb,chdb")
    a = ap.parse_args()
    machine = f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}"
    lines = [f"Machine: {machine}. {a.events:,} demo events, median of {a.runs} runs each "
             "way, alternating, same process and data (`python -m bench.sandbox`). A: "
             "compiled and scoped as before issue 29, run unconfined; B: `run_sql` now (the "
             "statement around the compiler's subqueries rendered and parsed back, then the "
             "engine's own parser check of the whole text, then the statement). Most of B - A "
             "is the engine check (DuckDB: `extract_statements`, `json_serialize_sql` and the "
             "walk in Python; chDB: `formatQuerySingleLine` and `EXPLAIN AST`, two round "
             "trips). Only user SQL pays it (`/api/v1/sql`, MCP `run_sql`, `telequery sql`, "
             "export); the APIs' compiled queries do not.", "",
             "| engine | statement | A: before (ms) | B: confined (ms) | B - A (ms) |",
             "|---|---|---:|---:|---:|"]
    for engine in a.engines.split(","):
        with tempfile.TemporaryDirectory() as d:
            for name, before, after in run(engine, a.events, a.runs, Path(d)):
                row = (f"| {engine} | {name} | {before:.1f} | {after:.1f} | "
                       f"{after - before:+.1f} |")
                print(row, flush=True)
                lines.append(row)
    write_section(Path(__file__).resolve().parent.parent / "BENCHMARKS.md",
                  "## SQL confinement", "\n".join(lines))


if __name__ == "__main__":
    main()
