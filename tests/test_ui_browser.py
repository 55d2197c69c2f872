"""The explorer in a real Chromium (Playwright) against a live server with generated data,
on both engines: what the page shows is what the API answers.

Every page a test opens is watched: no console error, no failed request, no request that
leaves 127.0.0.1 (checked when the test ends). Screenshots at 1440x900 go to
``test-artifacts/ui/`` (not committed). Chromium is Debian's (``make test`` installs it);
without it these tests fail and say how to install it: they are never skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from conftest import ENGINES, LiveServer, make_store, serve
from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.synth import generate

ORG, EMPTY = "acme", "newcomer"
EVENTS = 12_000
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "ui"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str:
    """Debian's Chromium (or TELEQUERY_CHROMIUM); a clear failure when it is missing."""
    path = os.environ.get("TELEQUERY_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed for the explorer's browser tests: `make test` installs "
                    "Debian's package (apt-get install chromium), or set TELEQUERY_CHROMIUM to a "
                    "Chromium binary", pytrace=False)
    return path


Visit = Callable[..., Page]


@dataclass
class Site:
    server: LiveServer
    engine: str
    token: str
    api: httpx.Client  # the Workers Observability API as a client calls it
    window: tuple[int, int]  # epoch ms the generated data spans


@pytest.fixture(scope="module", params=ENGINES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    path = Path(tmp_path_factory.mktemp(f"ui_{request.param}"))
    store = make_store(request.param, path)
    meta = Meta(path / "meta.sqlite")
    end = datetime.now(UTC) - timedelta(minutes=2)
    start = end - timedelta(hours=6)
    load(store, ORG, generate(7, EVENTS, start, end))
    try:
        with serve(store, meta) as live:
            token = live.token(ORG)
            with httpx.Client(base_url=f"{live.url}/client/v4/accounts/{ORG}/workers/"
                              "observability", timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as api:
                yield Site(live, request.param, token, api,
                           (int(start.timestamp() * 1000), int(end.timestamp() * 1000)))
    finally:
        meta.close()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that a user would call broken."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def open_page(browser: Browser, site: Site, token: str | None = None, *, hash_: str = "",
              size: tuple[int, int] = (1440, 900), answers: tuple[int, ...] = ()
              ) -> tuple[Page, Watch]:
    """A page on the explorer; ``answers``: error statuses the test provokes on purpose."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    watch = Watch()

    def console(m: ConsoleMessage) -> None:
        provoked = any(f"status of {code}" in m.text for code in answers)
        if m.type == "error" and not provoked:
            watch.errors.append(m.text)

    def failed(r: Request) -> None:
        # A request the page itself gave up (a tab left, a query replaced) is not a failure.
        if r.failure and "ERR_ABORTED" not in r.failure:
            watch.failed.append(f"{r.url}: {r.failure}")

    def sent(r: Request) -> None:
        host = urlparse(r.url).hostname
        if r.url.startswith(("http", "ws")) and host != "127.0.0.1":
            watch.foreign.append(r.url)

    page.on("console", console)
    page.on("pageerror", lambda e: watch.errors.append(str(e)))
    page.on("requestfailed", failed)
    page.on("request", sent)
    page.on("response", lambda r: r.status >= 400 and r.status not in answers
            and watch.failed.append(f"{r.url}: {r.status}"))
    token = json.dumps(token or site.token)
    context.add_init_script(f"localStorage.setItem('telequery.token', {token})")
    page.goto(f"{site.server.url}/ui{hash_}")
    return page, watch


@pytest.fixture
def visit(browser: Browser, site: Site, request: pytest.FixtureRequest
          ) -> Iterator[Callable[..., Page]]:
    """Open pages; at the end, screenshot each and check none misbehaved."""
    opened: list[tuple[Page, Watch]] = []

    def go(token: str | None = None, **kw: object) -> Page:
        page, watch = open_page(browser, site, token, **kw)  # type: ignore[arg-type]
        opened.append((page, watch))
        return page

    yield go
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for i, (page, watch) in enumerate(opened):
        page.screenshot(path=str(ARTIFACTS / f"{name}-{i}.png"))
        page.context.close()
        assert not watch.errors, f"console errors: {watch.errors}"
        assert not watch.failed, f"failed requests: {watch.failed}"
        assert not watch.foreign, f"requests leaving 127.0.0.1: {watch.foreign}"


def query(site: Site, body: dict) -> dict:
    now = int(time.time() * 1000)
    r = site.api.post("/telemetry/query", json={
        "queryId": "t", "timeframe": {"from": now - 86_400_000, "to": now}, **body})
    assert r.status_code == 200, r.text
    return r.json()["result"]


def number(text: str) -> float:
    return float(re.sub(r"[^\d.\-]", "", text))


# -- tests --------------------------------------------------------------------------------
def test_query_builder_chart_and_table_show_what_the_api_returns(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("button", name="Add filter", exact=True).click()
    page.get_by_label("Filter field").fill("$metadata.type")
    page.get_by_label("Filter field").blur()
    page.get_by_label("Filter value").fill("span")
    page.get_by_label("Filter value").blur()
    page.get_by_label("Group by", exact=True).fill("$metadata.service")
    page.get_by_label("Group by", exact=True).blur()
    page.get_by_role("button", name="Run query").click()
    table = page.get_by_label("Aggregate table")
    expect(table.locator("th").first).to_have_text("service")

    want = query(site, {"view": "calculations", "parameters": {
        "calculations": [{"operator": "count", "alias": "count"}],
        "filters": [{"key": "$metadata.type", "operation": "eq", "type": "string",
                     "value": "span"}],
        "groupBys": [{"type": "string", "value": "$metadata.service"}], "limit": 10}})
    agg = {a["groups"][0]["value"]: a["value"] for a in want["calculations"][0]["aggregates"]}
    assert len(agg) > 3
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(agg))
    got = {rows.nth(i).locator("td").nth(0).inner_text(): number(
        rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count())}
    assert got == agg
    totals = json.loads(page.locator("figure.chart").first.get_attribute("data-totals") or "{}")
    assert totals == agg  # the chart's lines hold the same counts, bucket by bucket summed
    expect(page.locator("figure.chart .u-legend")).to_contain_text(next(iter(agg)))

    # A row click adds its group as a filter: the table narrows to that service.
    first = next(iter(agg))
    rows.first.click()
    expect(rows).to_have_count(1)
    assert rows.first.locator("td").nth(0).inner_text() == first

    # The URL holds the whole query: opening it elsewhere reproduces the view.
    again = visit(hash_="#" + page.url.split("#", 1)[1])
    again_rows = again.get_by_label("Aggregate table").locator("tbody tr")
    expect(again_rows).to_have_count(1)
    assert number(again_rows.first.locator("td").nth(1).inner_text()) == agg[first]


def test_compare_shows_change_only_against_a_nonzero_previous(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_label("Time range").select_option("3d")
    page.get_by_label("Compare to previous period").check()
    table = page.get_by_label("Aggregate table")
    expect(table.locator("th")).to_have_text(["count", "previous", "change"])
    # The data is 6 hours old, so the 3 days before this window are empty: no percentage.
    cells = table.locator("tbody tr").first.locator("td")
    expect(cells.nth(1)).to_have_text("0")
    expect(cells.nth(2)).to_have_text("–")
    expect(page.locator("figure.chart .u-legend")).to_contain_text("previous: all events")
    # The last hour against the hour before: both hold data, so the change is shown.
    page.get_by_label("Time range").select_option("1h")
    now = int(time.time() * 1000)
    r = site.api.post("/telemetry/query", json={
        "queryId": "t", "timeframe": {"from": now - 3_600_000, "to": now}, "compare": True,
        "parameters": {"calculations": [{"operator": "count"}]}}).json()["result"]
    cur, prev = (x[0]["aggregates"][0]["value"] for x in (r["calculations"], r["compare"]))
    assert prev > 0
    expect(cells.nth(1)).not_to_have_text("0")
    expect(cells.nth(2)).to_have_text(re.compile(r"^[+-]\d+\.\d%$"))
    # The page's "now" is a moment before this one: a few events apart of ~2,000.
    assert number(cells.nth(2).inner_text()) == pytest.approx(100 * (cur - prev) / prev, abs=1)


def test_events_page_both_ways_and_expand_json(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Events").click()
    total = int(query(site, {"view": "events", "parameters": {}, "limit": 1})["events"]["count"])
    showing = page.get_by_test_id("showing")
    expect(showing).to_have_text(f"Showing 1–50 of {total:,} events")
    newest = page.get_by_label("Events").locator("tbody tr").first.inner_text()
    page.get_by_role("button", name="Older events").click()
    expect(showing).to_have_text(f"Showing 51–100 of {total:,} events")
    page.get_by_role("button", name="Newer events").click()
    expect(showing).to_have_text(f"Showing 1–50 of {total:,} events")
    first = page.get_by_label("Events").locator("tbody tr").first
    assert first.inner_text() == newest
    first.click()
    expect(page.locator("pre.json")).to_contain_text('"$metadata"')


def test_distribution_view(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Distribution").click()
    expect(page.get_by_label("Distribution: duration")).to_be_visible()
    bars = page.locator("rect.bar")
    want = query(site, {"view": "calculations", "chartType": "distribution", "parameters": {
        "calculations": [{"operator": "count", "key": "$metadata.duration",
                          "keyType": "number"}]}})["distribution"]
    expect(bars).to_have_count(len(want["buckets"]))


def test_a_trace_opens_in_place_with_every_span(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Traces").click()
    listed = query(site, {"view": "traces", "parameters": {}, "limit": 50})["traces"]
    trace = max(listed, key=lambda t: t["spans"])
    row = page.locator(f'tr[data-trace="{trace["traceId"]}"]')
    row.focus()  # the keyboard opens it as a click does
    page.keyboard.press("Enter")
    view = page.get_by_test_id("trace-view")
    expect(view).to_be_in_viewport()
    expect(view.locator(".wf-row")).to_have_count(trace["spans"])
    expect(view.locator(".wf-axis .tick")).to_have_count(5)  # a time axis
    last = view.locator(".wf-row").last
    last.focus()
    page.keyboard.press(" ")
    detail = page.get_by_test_id("span-detail")
    expect(detail.locator("h3")).to_have_text(last.locator(".wf-name").get_attribute("title") or "")
    expect(detail).to_contain_text("Attributes")
    expect(detail).to_contain_text(last.get_attribute("data-span") or "")
    page.get_by_role("button", name="Events of this trace").click()
    events = query(site, {"view": "events", "limit": 1, "parameters": {"filters": [
        {"key": "$metadata.traceId", "operation": "eq", "type": "string",
         "value": trace["traceId"]}]}})["events"]["count"]
    events = int(events)
    expect(page.get_by_test_id("showing")).to_contain_text(f"of {events:,} events")


def test_an_agent_run_shows_its_tree_and_cost(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Agent runs").click()
    runs = query(site, {"view": "agents", "parameters": {}, "limit": 50})["agents"]
    run = max((r for r in runs if r.get("cost")), key=lambda r: r["spans"])
    page.locator(f'tr[data-run="{run["id"]}"]').click()
    summary = page.get_by_test_id("run-summary")
    expect(summary).to_be_visible()
    shown = number(summary.locator('[data-field="cost"]').inner_text())
    assert shown == pytest.approx(run["cost"], abs=5e-5 if run["cost"] < 1 else 5e-3)
    assert number(summary.locator('[data-field="tool calls"]').inner_text()) == run["toolCalls"]
    expect(page.get_by_test_id("trace-view").locator(".wf-row")).to_have_count(run["spans"])
    expect(page.get_by_label("Chart: Cost by model")).to_be_visible()
    # The agent filter narrows the runs to that agent.
    page.get_by_label("Agent filter").fill(run["agentName"])
    page.get_by_label("Agent filter").blur()
    rows = page.get_by_label("Agent run list").locator("tbody tr")
    expect(rows.first).to_contain_text(run["agentName"])
    names = rows.locator("td:nth-child(2)").all_inner_texts()
    assert set(names) == {run["agentName"]}


def test_a_pattern_clicks_through_to_exactly_its_events(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Log patterns").click()
    table = page.get_by_label("Log patterns")
    expect(table.locator("tbody tr").first).to_be_visible()
    first = table.locator("tbody tr").first
    count = int(number(first.locator("td").first.inner_text()))  # weighted: sampled rows
    expect(first.locator("svg.spark")).to_be_visible()
    first.get_by_role("button").click()
    expect(page.get_by_test_id("showing")).to_contain_text(f"of {count:,} events")


def test_live_tail_shows_a_fresh_event(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_role("tab", name="Live tail").click()
    expect(page.get_by_test_id("tail-status")).to_have_text("● live")
    marker = f"tail-check-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{site.server.url}/v1/events", content=json.dumps(
        {"message": marker, "service": "ui-test", "level": "info"}) + "\n",
        headers={"Authorization": f"Bearer {site.token}",
                 "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    expect(page.get_by_label("Events")).to_contain_text(marker, timeout=15_000)
    page.get_by_role("button", name="Pause live tail").click()
    expect(page.get_by_test_id("tail-status")).to_have_text("paused")
    page.get_by_role("button", name="Clear live tail").click()
    expect(page.get_by_label("Events")).to_have_count(0)
    # Paused, a new event waits (counted), and shows on resume.
    later = marker + "-later"
    httpx.post(f"{site.server.url}/v1/events", content=json.dumps(
        {"message": later, "service": "ui-test"}) + "\n",
        headers={"Authorization": f"Bearer {site.token}",
                 "Content-Type": "application/x-ndjson"}).raise_for_status()
    resume = page.get_by_role("button", name="Resume live tail")
    expect(resume).to_have_text("Resume (1 waiting)", timeout=15_000)
    resume.click()
    expect(page.get_by_label("Events")).to_contain_text(later)


def test_switching_tabs_quickly_never_shows_another_tabs_data(site: Site, visit: Visit) -> None:
    page = visit()
    # Slow every query down in the page, then watch every change of the page: the tab
    # content must always be the selected tab's.
    page.evaluate("""() => {
      const real = window.fetch;
      window.fetch = async (...a) => { const r = await real(...a);
        await new Promise((ok) => setTimeout(ok, 400)); return r; };
      window.__stale = [];
      const ids = { "Explore": "explore", "Traces": "traces", "Agent runs": "agents",
                    "Log patterns": "patterns", "Live tail": "tail" };
      new MutationObserver(() => {
        const tab = document.querySelector('nav [aria-selected="true"]');
        const shown = document.querySelectorAll("main section[data-tab]");
        for (const s of shown) if (tab && s.dataset.tab !== ids[tab.textContent])
          window.__stale.push(tab.textContent + " showed " + s.dataset.tab);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }""")
    order = ["Traces", "Agent runs", "Log patterns", "Explore", "Traces", "Log patterns",
             "Agent runs", "Explore", "Traces"]
    for _ in range(3):
        for name in order:
            page.get_by_role("tab", name=name).click()
            page.wait_for_timeout(120)
    expect(page.get_by_label("Trace list")).to_be_visible(timeout=20_000)
    assert page.evaluate("window.__stale") == []


def test_an_empty_org_gets_the_onboarding_panel(site: Site, visit: Visit) -> None:
    token = site.server.token(EMPTY)
    page = visit(token)
    panel = page.get_by_test_id("onboarding")
    expect(panel).to_contain_text("Send your first telemetry")
    expect(panel).to_contain_text(f"{site.server.url}/v1/traces")
    expect(panel).to_contain_text("OTEL_EXPORTER_OTLP_ENDPOINT")
    expect(panel).to_contain_text("curl -X POST")
    expect(page.get_by_role("button", name="Copy curl command")).to_be_visible()
    # The first event arrives: "check again" leaves the panel for the explorer.
    httpx.post(f"{site.server.url}/v1/events", content=json.dumps(
        {"message": "first!", "service": "newcomer-app"}) + "\n",
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": "application/x-ndjson"}).raise_for_status()
    page.get_by_role("button", name="I sent something: check again").click()
    expect(page.get_by_label("Aggregate table")).to_contain_text("1")
    expect(panel).to_have_count(0)


def test_a_token_without_the_query_scope_is_told_so(site: Site, browser: Browser) -> None:
    page, watch = open_page(browser, site, site.server.token(ORG, ("ingest",)), answers=(403,))
    expect(page.get_by_test_id("auth-error")).to_contain_text("no query scope")
    page.context.close()
    assert not watch.failed and not watch.foreign and not watch.errors


def test_api_errors_show_the_apis_own_message(site: Site, visit: Visit) -> None:
    page = visit(answers=(400,))
    page.get_by_label("Search", exact=True).fill("(unclosed")
    page.get_by_label("Regular expression").check()
    page.get_by_role("button", name="Run query").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Bad Request")
    expect(alert).to_contain_text("needle")
    page.get_by_label("Search", exact=True).fill("")
    page.get_by_role("button", name="Run query").click()
    expect(page.get_by_label("Aggregate table")).to_be_visible()


def test_saved_queries_save_open_rename_delete(site: Site, visit: Visit) -> None:
    page = visit()
    page.get_by_label("Group by", exact=True).fill("$metadata.level")
    page.get_by_label("Group by", exact=True).blur()
    page.get_by_role("button", name="Run query").click()
    page.get_by_role("button", name="Saved queries").click()
    name = f"levels {uuid.uuid4().hex[:6]}"
    page.get_by_label("Saved query name").fill(name)
    page.get_by_role("button", name="Save current query").click()
    saved = page.get_by_label("Saved query list")
    expect(saved).to_contain_text(name)
    listed = site.api.get("/queries").json()["result"]
    assert any(q["name"] == name and q["parameters"]["groupBys"][0]["value"] == "$metadata.level"
               for q in listed)
    page.get_by_role("button", name=f"Rename {name}").click()
    page.get_by_label("New name").fill(name + " renamed")
    page.get_by_role("button", name="Save name").click()
    expect(saved).to_contain_text(name + " renamed")
    page.get_by_role("button", name="Reset").click()
    page.get_by_role("button", name=f"Open {name} renamed").click()
    expect(page.get_by_label("Aggregate table").locator("th").first).to_have_text("level")
    page.get_by_role("button", name="Saved queries").click()
    page.get_by_role("button", name=f"Delete {name} renamed").click()
    expect(page.get_by_test_id("saved")).not_to_contain_text(name)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_labelled_controls_and_no_sideways_scroll(site: Site, visit: Visit,
                                                  size: tuple[int, int]) -> None:
    page = visit(size=size)
    expect(page.get_by_label("Aggregate table")).to_be_visible()
    for label in ("Time range", "Group by", "Search", "Compare to previous period"):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    page.get_by_role("button", name="Add filter", exact=True).click()
    expect(page.get_by_role("group", name="Filter", exact=True)).to_have_count(1)
    expect(page.get_by_role("tab", name="Live tail")).to_be_visible()
    unnamed = page.evaluate("""() => [...document.querySelectorAll("input, select, button")]
      .filter((el) => !(el.getAttribute("aria-label") || el.closest("label")
                        || (el.id && document.querySelector(`label[for="${el.id}"]`))
                        || el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 80))""")
    assert unnamed == []
    for tab in ("Traces", "Agent runs", "Log patterns", "Explore"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size[0], f"{tab} is {width}px wide at {size}"
