"""The benchmark table (stdout) and BENCHMARKS.md's query-suite sections.

Reads .bench-data/results/*.json written by ``bench.queries`` and ``bench.__main__`` and
rewrites only the sections named in ``OWN`` (other sections, e.g. "## Ingest" and
"## Pattern mining (loghub-2k)", are kept as they are and where they are).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import data
from bench.notes import HUGE_RUN, NOTES, OPTIMISATIONS, UNRUN_HUGE

REPO = Path(__file__).resolve().parent.parent
RESULTS = data.RESULTS
OWN = ("## Query suite", "## Targets", "## Storage", "## Data generation", "## What was optimised")

TARGET_MS_10M = 250.0
TARGET_MS_100M = 2500.0
TARGET_RATIO = 1.2
TARGET_SMALL_MS = 15.0
TARGET_RSS_100M = 4 * 2**30
MIN_ROWS_FOR_RATIO = 1_000_000


def load() -> list[dict[str, Any]]:
    docs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("queries-*.json"))]
    return sorted(docs, key=lambda d: (d["size"], d["engine"] != "duckdb", d["engine"]))


def _ms(s: float) -> str:
    ms = s * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def table(docs: list[dict[str, Any]]) -> str:
    head = (
        "| events | engine | query | API median ms (min–max) | engine median ms (min–max) "
        "| API / engine | HTTP floor ms | floor / engine | statements | rows read |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for d in docs:
        for q in d["queries"]:
            api, raw = q.get("http"), q["raw"]
            if api is None:
                continue
            lines.append(
                f"| {data.label(d['size'])} | {d['engine']} | `{q['name']}` | "
                f"{_ms(api['median'])} ({_ms(api['min'])}–{_ms(api['max'])}) | "
                f"{_ms(raw['median'])} ({_ms(raw['min'])}–{_ms(raw['max'])}) | "
                f"{api['median'] / raw['median']:.2f} | {_floor(q)} | "
                f"{q['statements']} | {q['rows_read']:,} |"
            )
    return "\n".join(lines)


def _floor(q: dict[str, Any]) -> str:
    """The HTTP floor's median and its ratio to the engine, as two table cells."""
    floor = q.get("floor")
    if floor is None:  # results from before the floor was measured
        return "– | –"
    return f"{_ms(floor['median'])} | {floor['median'] / q['raw']['median']:.2f}"


def servers(docs: list[dict[str, Any]]) -> str:
    lines = [
        "| events | engine | server peak RSS | bytes on disk | bytes / event | suite wall time |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for d in docs:
        lines.append(
            f"| {data.label(d['size'])} | {d['engine']} | "
            f"{d['peak_rss'] / 2**20:,.0f} MiB | {d['bytes_on_disk'] / 2**20:,.0f} MiB"
            f" | {d['bytes_per_event']:,.1f} | {d['seconds']:,.0f} s |"
        )
    return "\n".join(lines)


def targets(docs: list[dict[str, Any]]) -> list[str]:
    """One line per target: met or missed, with the numbers."""
    out = []
    for d in docs:
        if d["engine"] != "duckdb":
            continue
        size, label = d["size"], data.label(d["size"])
        for q in d["queries"]:
            api = q.get("http")
            if api is None:
                continue
            med, raw = api["median"], q["raw"]["median"]
            ratio = med / raw
            if q["small"]:
                ok = med * 1000 <= TARGET_SMALL_MS
                out.append(
                    f"- {label} `{q['name']}` (< 10k rows): {med * 1000:.1f} ms "
                    f"{'<=' if ok else '>'} {TARGET_SMALL_MS:.0f} ms: "
                    f"**{'met' if ok else 'missed'}**"
                    + ("" if ok else f" by {med * 1000 - TARGET_SMALL_MS:.1f} ms")
                )
            elif q["rows_read"] >= MIN_ROWS_FOR_RATIO:
                ok = ratio <= TARGET_RATIO
                floor = q.get("floor")
                why = (
                    ""
                    if ok or floor is None
                    else f" (the HTTP floor alone: x{floor['median'] / raw:.2f}; telequery "
                    f"adds {(med - floor['median']) * 1000:.1f} ms to it)"
                )
                out.append(
                    f"- {label} `{q['name']}` overhead: API/engine {ratio:.2f} "
                    f"{'<=' if ok else '>'} {TARGET_RATIO}: **{'met' if ok else 'missed'}**"
                    + why
                )
            limit = {10_000_000: TARGET_MS_10M, 100_000_000: TARGET_MS_100M}.get(size)
            if limit is not None:
                ok = med * 1000 <= limit
                out.append(
                    f"- {label} `{q['name']}` latency: {med * 1000:,.0f} ms "
                    f"{'<=' if ok else '>'} {limit:,.0f} ms: **{'met' if ok else 'missed'}**"
                    + ("" if ok else f" ({med * 1000 / limit:.1f}x the target)")
                )
        if size == 100_000_000:
            ok = d["peak_rss"] <= TARGET_RSS_100M
            out.append(
                f"- 100M server peak RSS {d['peak_rss'] / 2**30:.2f} GiB: "
                f"**{'met' if ok else 'missed'}**"
            )
    return out


def _machine(docs: list[dict[str, Any]]) -> str:
    m = docs[-1]["machine"]
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, Python {m['python']}, "
        f"DuckDB {m['duckdb']}, chDB {m['chdb']}"
    )


def _generation() -> str:
    lines = ["| events | parts | generate + load both engines | events/s |", "|---|---:|---:|---:|"]
    for d in sorted(data.ROOT.glob("s*-n*/timing.json")):
        t = json.loads(d.read_text())
        size = int(d.parent.name.split("-n")[1])
        secs = t.get("generate_and_load_seconds")
        if secs:
            lines.append(
                f"| {data.label(size)} | {len(data.slices(size))} | {secs:,.0f} s | "
                f"{size / secs:,.0f} |"
            )
    return "\n".join(lines)


def _fresh_line(seconds: float | None) -> str:
    if not seconds:
        return ""
    return (
        f"A fresh `make bench` (nothing cached: generation + loading + suite + ingest + "
        f"patterns) takes about {seconds / 60:,.0f} min on this machine."
    )


def sections(docs: list[dict[str, Any]]) -> dict[str, str]:
    run = {}
    run_file = RESULTS / "run.json"
    if run_file.exists():
        run = json.loads(run_file.read_text())
    when = max(d["at"] for d in docs)
    runs = docs[-1]["runs"]
    suite = (
        f"""## Query suite

`make bench` (= `python -m bench`; one part: `python -m bench queries`). Machine: {_machine(docs)}.
Last run {when}. Demo org `demo`, seed {data.SEED}, one week of synthetic agent + worker
telemetry ({data.START:%Y-%m-%d} to {data.END:%Y-%m-%d} UTC) made by `synth.generate` and
loaded through the OTLP mapping (`ingest.load.load`). *API*: one HTTP request to the
app `telequery serve` runs, served by uvicorn from a thread of the bench process, sent by
a client in its own process over one keep-alive connection (`http.client`), timed to the
last byte of the response. *engine*: the same SQL statements (captured by running the
API's own parser and runner over a recording store) timed with `store.execute` while the
server is idle. *HTTP floor*: the same client posting the same body to a bare endpoint
that the bench adds to the same app, which runs those statements in a worker thread and
answers `{{}}`: no parsing, compiling, auth, run record or rendering, so *API − floor* is
what telequery itself adds and *floor / engine* is what serving over HTTP costs at the
least on this machine. The three rotate run by run; median of {runs} runs
({data.FAST_QUERY_RUNS} for a query under {data.FAST_QUERY_S * 1000:.0f} ms in the engine) after one
warm-up of each. *API / engine* is the overhead ratio; *statements* is how many SQL statements the
API runs for the request (e.g. aggregate + series); *rows read* is what the engine
reported. The 2 cores are shared with other work, so expect ±20% between runs.

{table(docs)}

Queries (see `bench/suite.py` for the exact bodies):

"""
        + "\n".join(f"- `{q['name']}`: {q['description']}" for q in docs[-1]["queries"])
        + "\n"
    )
    storage = f"""## Storage

{servers(docs)}

Bytes on disk per event: DuckDB is one file (`events.duckdb`, after CHECKPOINT); chDB is the
whole data directory (MergeTree parts, ZSTD, LowCardinality). Server peak RSS is the VmHWM
of a separate `telequery serve` process after it answered every suite query twice; the
DuckDB server runs with `--memory-limit {data.MEMORY_LIMIT}` (without it DuckDB takes up to
80% of RAM and its buffer cache grows with the data: 4.09 GiB at 100M).
"""
    tot = run.get("seconds")
    total_line = (
        (
            f"The last full `make bench` took {tot / 60:,.0f} min "
            f"({'with fresh data' if run.get('fresh') else 'reusing cached data'}"
            f"; parts: {', '.join(run.get('parts', []))})."
        )
        if tot
        else ""
    )
    fresh = run.get("fresh_estimate_seconds")
    ran_huge = any(d["size"] >= 100_000_000 for d in docs)
    huge = HUGE_RUN if ran_huge else UNRUN_HUGE
    gen = f"""## Data generation

Generated once per (seed, size) into `.bench-data/s<seed>-n<size>/` (Parquet parts, then a
DuckDB and a chDB store) and reused. The week is cut into time slices of
{data.SLICE_EVENTS:,} events, generated by 2 processes from seeds derived from
(seed, size, slice), so the rows depend only on (seed, size); parts are appended in time
order while later slices are still being generated.

{_generation()}

{total_line}
{_fresh_line(fresh)}

{huge}
"""
    tgt = (
        "## Targets\n\nDuckDB (the default engine):\n\n"
        + "\n".join(targets(docs))
        + "\n\n"
        + NOTES
        + "\n"
    )
    opt = "## What was optimised\n\n" + OPTIMISATIONS + "\n"
    return {
        "## Query suite": suite,
        "## Targets": tgt,
        "## Storage": storage,
        "## Data generation": gen,
        "## What was optimised": opt,
    }


def merge(text: str, own: dict[str, str]) -> str:
    """Replace our sections in ``text``; keep the others (and their order) untouched."""
    parts = re.split(r"(?m)^(?=## )", text)
    preamble, rest = (
        (parts[0], parts[1:]) if parts and not parts[0].startswith("## ") else ("", parts)
    )
    if not preamble.strip():
        preamble = "# Benchmarks\n\n"
    kept = [p for p in rest if not any(p.startswith(h + "\n") for h in own)]
    mine = [own[h].rstrip() + "\n\n" for h in OWN if h in own]
    return (
        preamble.rstrip()
        + "\n\n"
        + "".join(mine)
        + "".join(p.rstrip() + "\n\n" for p in kept).rstrip()
        + "\n"
    )


def write(path: Path | None = None) -> None:
    docs = load()
    if not docs:
        print("no query results yet; run `python -m bench queries`")
        return
    print()
    print(table(docs))
    print()
    print(servers(docs))
    print()
    print("\n".join(targets(docs)))
    path = path or REPO / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else ""
    path.write_text(merge(old, sections(docs)))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    write()


def write_section(path: Path, section: str, text: str) -> None:
    """Put ``text`` under the ``section`` heading of BENCHMARKS.md, replacing that section
    if present (for the benchmarks that write one section of their own)."""
    doc = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{section}\n\n{text.rstrip()}\n"
    heading = f"\n{section}\n"  # a whole line: "## Under load" is not "## Under load (...)"
    if heading in doc:
        start = doc.index(heading) + 1
        nxt = doc.find("\n## ", start + len(section))
        doc = doc[:start] + block + (doc[nxt:] if nxt != -1 else "")
    else:
        doc = doc.rstrip() + "\n\n" + block
    path.write_text(doc, encoding="utf-8")
