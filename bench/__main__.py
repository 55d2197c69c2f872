"""`python -m bench` (`make bench`): every benchmark, or one part: `python -m bench <part>`.

Parts: ``queries`` (data at 1M and 10M events, the query suite on DuckDB and chDB over
HTTP and on the raw engine; ``--huge`` adds 100M), ``ingest`` (``bench/ingest.py``, when
present), ``patterns`` (``bench/patterns.py``), ``data`` (generate and load only),
``report`` (rewrite the table and BENCHMARKS.md from saved results). Every part but
``data`` and ``report`` runs in its own process, so one failing does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTERNAL = ("ingest", "patterns", "retention")  # owned by other modules; run if present
PARTS = ("queries", *EXTERNAL, "data", "report")


def _external(name: str) -> int:
    if not (HERE / f"{name}.py").exists():
        print(f"== bench.{name}: not present, skipped", flush=True)
        return 0
    print(f"== bench.{name}", flush=True)
    return subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("part", nargs="?", choices=PARTS, help="run only this part")
    ap.add_argument("--sizes", default="1M,10M", help="event counts, e.g. 1M,10M")
    ap.add_argument("--engines", default="duckdb,chdb")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query (median)")
    ap.add_argument("--huge", action="store_true", help="also 100M events (hours to generate)")
    a = ap.parse_args(argv)

    from bench import data, queries, report

    sizes = [queries.parse_size(s) for s in a.sizes.split(",") if s]
    if a.huge and 100_000_000 not in sizes:
        sizes.append(100_000_000)
    engines = tuple(a.engines.split(","))
    t0 = time.perf_counter()
    fresh = not all((data.data_dir(s) / e / "LOADED").exists() for s in sizes for e in engines)
    failed = 0
    if a.part == "data":
        for s in sizes:
            data.ensure(s, engines=engines)
        return 0
    if a.part in (None, "queries"):
        print(
            f"== bench.queries: sizes {', '.join(data.label(s) for s in sizes)}; "
            f"engines {', '.join(engines)}; {a.runs} runs",
            flush=True,
        )
        queries.run(sizes, list(engines), a.runs)
    for name in EXTERNAL:
        if a.part in (None, name):
            failed += _external(name) != 0
    if a.part is None:
        seconds = time.perf_counter() - t0
        generation = 0.0
        for s in sizes:
            timing = data.data_dir(s) / "timing.json"
            if timing.exists():
                generation += json.loads(timing.read_text()).get("generate_and_load_seconds", 0)
        run = {
            "seconds": round(seconds),
            "fresh": fresh,
            "parts": list(PARTS[:3]),
            "sizes": sizes,
            "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "fresh_estimate_seconds": round(seconds if fresh else seconds + generation),
        }
        queries.RESULTS.mkdir(parents=True, exist_ok=True)
        (queries.RESULTS / "run.json").write_text(json.dumps(run))
        print(f"== make bench took {seconds / 60:.1f} min", flush=True)
    if a.part in (None, "queries", "report"):
        report.write()
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: DuckDB's per-thread cursors make nanobind print pages of
    # harmless "leaked instance" warnings at exit.
    os._exit(code)
