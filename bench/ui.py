"""The explorer's first meaningful render: each page opened cold in Chromium over the bench
data (1M events by default), timed from navigation to the page showing its data.

    python -m bench.ui --events 1000000 --engine duckdb --engine chdb [--runs 5] [--write]

"Meaningful" per page: Explore's chart and aggregate table (count and p99 duration by
service), its events list, the trace list, the agent runs with their four charts, the log
patterns with their sparklines, and the live tail connected. Each run is a new browser
context (no cache, no storage): it loads the page and its modules, checks the token, checks
the org has data, and runs the page's queries. The window is the bench data's week.
Reported: the median of the runs (and the slowest), per page and engine, in BENCHMARKS.md
("Explorer: first meaningful render").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Browser, sync_playwright

from bench import data
from bench.machine import cpu_model
from bench.queries import Server
from bench.report import write_section

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Explorer: first meaningful render"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WEEK = {"range": "custom", "from": int(data.START.timestamp() * 1000),
        "to": int(data.END.timestamp() * 1000)}
BY_SERVICE = {"calculations": [{"operator": "count"},
                               {"operator": "p99", "key": "$metadata.duration",
                                "keyType": "number"}],
              "groupBys": [{"type": "string", "value": "$metadata.service"}],
              "filters": [], "filterCombination": "and", "havings": [], "limit": 10}
# page: (tab, result view, what must be on screen)
PAGES = {
    "Explore: chart + table": ("explore", "chart", ["table.agg tbody tr", "figure.chart canvas"]),
    "Explore: events": ("explore", "events", ['[data-testid="showing"]']),
    "Traces": ("traces", "chart", ["tr[data-trace]"]),
    "Agent runs (+ 4 charts)": ("agents", "chart", ["tr[data-run]", ".chart-row canvas"]),
    "Log patterns": ("patterns", "chart", ["svg.spark"]),
    "Live tail (connected)": ("tail", "chart", ['[data-testid="tail-status"].ok']),
}


# Recorded in the page, at the mutation that completes it: Playwright's own waits poll
# (with back-off up to 500 ms), which measured every page at ~1.0 s.
READY = """(selectors) => {
  const shown = (sel) => { const el = document.querySelector(sel);
                           return el && el.getClientRects().length > 0; };
  new MutationObserver((_, obs) => {
    if (selectors.every(shown)) { window.__ready = performance.now(); obs.disconnect(); }
  }).observe(document, { subtree: true, childList: true, attributes: true });
}"""


def first_render(browser: Browser, url: str, token: str, selectors: list[str]) -> float:
    """Milliseconds from navigation start until every selector is on screen."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(f"localStorage.setItem('telequery.token', {json.dumps(token)});"
                            f"({READY})({json.dumps(selectors)})")
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.__ready !== undefined", timeout=60_000)
    ms = float(page.evaluate("window.__ready"))
    context.close()
    return ms


def run(size: int, engine: str, runs: int) -> dict[str, list[float]]:
    token = data.token(size)
    server = Server(size, engine)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "chromium",
                                        args=CHROMIUM_ARGS)
            out: dict[str, list[float]] = {}
            for name, (tab, view, selectors) in PAGES.items():
                q = {**WEEK, "compare": False, "view": view, "parameters": BY_SERVICE}
                url = f"{server.url}/ui#" + urlencode({"tab": tab, "q": json.dumps(q)})
                first_render(browser, url, token, selectors)  # warm the server, not the page
                out[name] = [first_render(browser, url, token, selectors) for _ in range(runs)]
                print(f"  {name}: median {statistics.median(out[name]):,.0f} ms", flush=True)
            browser.close()
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engine", action="append", choices=("duckdb", "chdb"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)
    engines = args.engine or ["duckdb"]
    results = {}
    for engine in engines:
        print(f"{engine}, {args.events:,} events", flush=True)
        results[engine] = run(args.events, engine, args.runs)
    rows = ["| page | " + " | ".join(f"{e} median (max)" for e in engines) + " |",
            "|---|" + "---:|" * len(engines)]
    for name in PAGES:
        cells = [f"{statistics.median(results[e][name]):,.0f} ms "
                 f"({max(results[e][name]):,.0f})" for e in engines]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        machine = f"2 cores ({cpu_model('unknown CPU')}), Python {sys.version.split()[0]}"
        intro = (f"`python -m bench.ui {' '.join(sys.argv[1:])}`; {machine}; "
                 f"{time.strftime('%Y-%m-%d')}; {args.events:,} events over the bench week; "
                 f"Debian's Chromium, headless, 1440x900; median of {args.runs} cold page "
                 "loads (new context each: no cache) after one warm-up, slowest in brackets. "
                 "Timed from navigation start until the page's data is on screen: modules "
                 "loaded, token checked, then the page's own queries (beside the org's "
                 "92-day count) "
                 "(bench/ui.py lists what each page must show). Target: under 1 s.")
        write_section(REPO / "BENCHMARKS.md", SECTION, intro + "\n\n" + table)

if __name__ == "__main__":
    main()
