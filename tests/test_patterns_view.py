"""Log patterns: the ``patterns`` view and the ``$metadata.messageTemplate`` /
``errorTemplate`` / ``fingerprint`` fields, on DuckDB and chDB.

Two oracles: the generator's own templates (``telequery.synth.message_templates()``, with
``<*>`` for the variable parts), against which the templates mined at ingest must group
the synthetic log lines the same way; and plain Python over the rows read back from the
store, against which every count and series of the view must agree.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import ENGINES, LiveServer, make_store, serve
from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.patterns import grouping_accuracy, message_template
from telequery.query.ir import to_us
from telequery.store.base import Store
from telequery.synth import GeneratedStats, generate, message_templates
from telequery.synth.templates import (
    _PLACEHOLDER as PLACEHOLDER,
)
from telequery.synth.templates import (
    AGENT_TEMPLATES,
    BUDGET_BODIES,
    VARS,
    WORKER_TEMPLATES,
)

ORG = "acme"
START = datetime(2025, 5, 6, 8, tzinfo=UTC)
END = START + timedelta(hours=2)
FROM_MS, TO_MS = to_us(START) // 1000, to_us(END) // 1000
EVENTS = 8000


@dataclass
class Env:
    server: LiveServer
    store: Store
    http: httpx.Client
    stats: GeneratedStats
    rows: list[dict]  # every stored row of ORG, read back with plain SQL


def stored_rows(store: Store, org: str) -> list[dict]:
    ph = "$org" if store.dialect.name == "duckdb" else "{org:String}"
    res = store.execute(
        "SELECT kind, timestamp, service, message, error, message_template, error_template, "
        f"fingerprint, sample_interval FROM events WHERE org_id = {ph}", {"org": org})
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


@pytest.fixture(scope="module", params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    path = Path(tmp_path_factory.mktemp(f"patterns_{request.param}"))
    store = make_store(request.param, path)
    meta = Meta(path / "meta.sqlite")
    stats = GeneratedStats()
    load(store, ORG, generate(5, EVENTS, START, END, stats=stats))
    try:
        with serve(store, meta) as srv, httpx.Client(
                base_url=f"{srv.url}/client/v4/accounts/{ORG}/workers/observability",
                headers={"Authorization": f"Bearer {srv.token(ORG)}"}, timeout=60) as http:
            yield Env(srv, store, http, stats, stored_rows(store, ORG))
    finally:
        meta.close()
        store.close()


def query(env: Env, **body: object) -> dict:
    r = env.http.post("/telemetry/query", json={
        "queryId": "adhoc", "timeframe": {"from": FROM_MS, "to": TO_MS}, "parameters": {},
        **body})
    assert r.status_code == 200, r.text
    return r.json()["result"]


# -- mined templates vs the generator's -----------------------------------------------------
def _matcher(template: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in template.split("<*>")]
    return re.compile("(?s)" + ".+?".join(parts))


def truth_labels(messages: list[str]) -> list[str]:
    """The generator template each message was rendered from (the most specific match)."""
    templates = sorted(set(message_templates()), key=lambda t: -len(t.replace("<*>", "")))
    matchers = [(t, _matcher(t)) for t in templates]
    labels = []
    for m in messages:
        label = next((t for t, rx in matchers if rx.fullmatch(m)), None)
        assert label is not None, f"no generator template renders {m!r}"
        labels.append(label)
    return labels


def masked_templates() -> set[str]:
    """Generator patterns whose every variable part the stateless miner masks.

    A placeholder kind counts as masked when the miner turns each of 200 drawn values into
    ``<*>``. Word-valued kinds (queue, table, agent and tool names, HTTP methods, person
    names) are kept as words by design (docs/patterns.md, "Variables that look like
    words"), so lines of templates using them split by value.
    """
    r = random.Random(0)
    masked = {k for k, draw in VARS.items()
              if all(message_template(f"x {draw(r)} y") == "x <*> y" for _ in range(200))}
    out = {t.pattern for t in WORKER_TEMPLATES + AGENT_TEMPLATES
           if set(PLACEHOLDER.findall(t.text)) <= masked}
    return out | set(BUDGET_BODIES.values())


def test_mined_templates_match_the_generator(env: Env) -> None:
    logs = [r for r in env.rows if r["kind"] == "log" and r["message"]]
    assert len(logs) > 1000
    truth = truth_labels([r["message"] for r in logs])
    mined = [r["fingerprint"] for r in logs]
    assert all(mined) and all(r["message_template"] for r in logs)
    assert Counter(truth) == +env.stats.templates  # the labels agree with the generator
    # Never over-merged: each mined fingerprint holds lines of one generator template.
    sources: dict[str, set[str]] = defaultdict(set)
    for fp, label in zip(mined, truth, strict=True):
        sources[fp].add(label)
    assert all(len(s) == 1 for s in sources.values())
    # Templates whose variables the miner masks: GA >= 0.95 and (nearly) one fingerprint
    # per generator template.
    keep = masked_templates()
    pairs = [(fp, t) for fp, t in zip(mined, truth, strict=True) if t in keep]
    assert len(pairs) > len(logs) // 3
    ga = grouping_accuracy([fp for fp, _ in pairs], [t for _, t in pairs])
    assert ga >= 0.95, ga
    per_template: dict[str, set[str]] = defaultdict(set)
    for fp, t in pairs:
        per_template[t].add(fp)
    assert sum(len(f) == 1 for f in per_template.values()) / len(per_template) >= 0.95
    # All lines, word-valued variables included: measured 0.82 (docs/patterns.md); a floor.
    assert grouping_accuracy(mined, truth) >= 0.78


# Placeholder kinds drawn from a small closed vocabulary (4-22 words: table, queue, flag,
# agent, tool and model names, HTTP methods, colos, form fields, database errors).
CLOSED_VOCABULARY = {"table", "field", "queue", "colo", "flag", "dberr", "model", "tool",
                     "agent", "method"}


def loghub_labels(messages: list[str]) -> list[str]:
    """Ground truth by loghub's convention: a word from a small closed vocabulary is part
    of the template (loghub labels `removing eklogin` and `removing kshell` as two
    templates), values from open domains (ids, numbers, hosts, people, keys) are ``<*>``."""
    compiled = []
    for text in [t.text for t in WORKER_TEMPLATES + AGENT_TEMPLATES] + \
            [b.replace("<*>", "{x}") for b in BUDGET_BODIES.values()]:
        parts = PLACEHOLDER.split(text)  # literal, kind, literal, kind, ...
        rx = "".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(parts))
        compiled.append((len(PLACEHOLDER.sub("", text)), re.compile("(?s)" + rx), parts))
    compiled.sort(key=lambda c: -c[0])  # the most specific template first
    labels = []
    for m in messages:
        match, parts = next((rx.fullmatch(m), parts) for _, rx, parts in compiled
                            if rx.fullmatch(m))
        out = list(parts)
        for j, value in enumerate(match.groups()):
            kind = parts[2 * j + 1]
            out[2 * j + 1] = value if kind in CLOSED_VOCABULARY else "<*>"
        labels.append("".join(out))
    return labels


def test_grouping_accuracy_by_the_loghub_convention(env: Env) -> None:
    """Over every synthetic log line, labelled as loghub labels its systems: GA 0.958 when
    measured (docs/patterns.md); what is left are open-domain values that look like words
    (person names, cache keys), which a stateless rule keeps."""
    logs = [r for r in env.rows if r["kind"] == "log" and r["message"]]
    truth = loghub_labels([r["message"] for r in logs])
    ga = grouping_accuracy([r["fingerprint"] for r in logs], truth)
    assert ga >= 0.93, ga


# -- the view vs plain Python over the stored rows -----------------------------------------
def _oracle(rows: list[dict], column: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        if r[column] is not None:
            out[(r[column], r["service"] or "")] += r["sample_interval"]
    return out


@pytest.mark.parametrize("pattern_type,column", [("message", "message_template"),
                                                 ("error", "error_template")])
def test_patterns_view_counts_and_series(env: Env, pattern_type: str, column: str) -> None:
    want = _oracle(env.rows, column)
    every = query(env, view="patterns", patternType=pattern_type, limit=5000,
                  ignoreSeries=True)["patterns"]
    assert {(p["pattern"], p["service"]): p["count"] for p in every} == pytest.approx(want)
    counts = [p["count"] for p in every]
    assert counts == sorted(counts, reverse=True)
    got = query(env, view="patterns", patternType=pattern_type, limit=20)["patterns"]
    assert [p["count"] for p in got] == counts[:20]
    for p in got:
        assert sum(b["data"]["count"] for b in p["series"]) == pytest.approx(p["count"])
        assert all(b["data"]["value"] == b["data"]["count"] for b in p["series"])
        assert len(p["series"]) == len(got[0]["series"]) > 1  # every bucket, zero-filled
        if pattern_type == "message":
            assert len(p["fingerprint"]) == 16


def test_patterns_limit_filter_and_pattern_type_in_parameters(env: Env) -> None:
    want = _oracle([r for r in env.rows if r["service"] == "agent-server"], "message_template")
    top = sorted(want.items(), key=lambda kv: -kv[1])[:3]
    got = query(env, view="patterns", ignoreSeries=True, parameters={
        "limit": 3, "patternType": "message", "filters": [
            {"key": "$metadata.service", "operation": "eq", "type": "string",
             "value": "agent-server"}]})["patterns"]
    assert [p["count"] for p in got] == pytest.approx([c for _, c in top])
    assert all(p["service"] == "agent-server" and p["series"] == [] for p in got)
    r = env.http.post("/telemetry/query", json={
        "queryId": "adhoc", "timeframe": {"from": FROM_MS, "to": TO_MS}, "view": "patterns",
        "parameters": {"patternType": "stack"}})
    assert r.status_code == 400 and "patternType" in r.json()["errors"][0]["field"]


def test_template_fields_filter_and_group(env: Env) -> None:
    """The mined columns are ordinary ``$metadata`` fields of the events dataset."""
    logs = [r for r in env.rows if r["kind"] == "log" and r["message_template"]]
    template = Counter(r["message_template"] for r in logs).most_common(1)[0][0]
    want = Counter()
    for r in logs:
        if r["message_template"] == template:
            want[r["fingerprint"]] += r["sample_interval"]
    res = query(env, view="calculations", chartType="aggregate", parameters={
        "calculations": [{"operator": "count"}],
        "groupBys": [{"type": "string", "value": "$metadata.fingerprint"}],
        "filters": [{"key": "$metadata.messageTemplate", "operation": "eq", "type": "string",
                     "value": template}]})
    aggs = res["calculations"][0]["aggregates"]
    got = {a["groups"][0]["value"]: a["count"] for a in aggs}
    assert got == pytest.approx(dict(want)) and len(got) == 1
    errors = query(env, view="events", limit=5, parameters={"filters": [
        {"key": "$metadata.errorTemplate", "operation": "exists"}]})["events"]["events"]
    assert errors and all(e["$metadata"]["errorTemplate"] for e in errors)
