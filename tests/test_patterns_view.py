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
from telequery.patterns import fingerprint, grouping_accuracy, message_template
from telequery.patterns.merge import merge_templates
from telequery.query.ir import to_us
from telequery.store.base import Store
from telequery.synth import GeneratedStats, generate, message_templates
from telequery.synth.templates import (
    _ENTITIES as ENTITIES,
)
from telequery.synth.templates import (
    _FAMILIES as FAMILIES,
)
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
    """Weighted count per (pattern, service): the stored templates merged into patterns
    (``merge_templates``, tested on its own in test_patterns.py), counted per service."""
    pattern_of = merge_templates(r[column] for r in rows if r[column] is not None)
    out: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        if r[column] is not None:
            out[(pattern_of[r[column]], r["service"] or "")] += r["sample_interval"]
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
    assert sum(counts) == pytest.approx(sum(r["sample_interval"] for r in env.rows
                                            if r[column] is not None))
    got = query(env, view="patterns", patternType=pattern_type, limit=20)["patterns"]
    assert [p["count"] for p in got] == counts[:20]
    page = query(env, view="patterns", patternType=pattern_type, limit=5, offsetBy=5,
                 ignoreSeries=True)["patterns"]
    assert [(p["pattern"], p["service"]) for p in page] == [
        (p["pattern"], p["service"]) for p in every[5:10]]
    for p in got:
        assert sum(b["data"]["count"] for b in p["series"]) == pytest.approx(p["count"])
        assert all(b["data"]["value"] == b["data"]["count"] for b in p["series"])
        assert len(p["series"]) == len(got[0]["series"]) > 1  # every bucket, zero-filled
        if pattern_type == "message":
            assert p["fingerprint"] == fingerprint(p["pattern"])
            assert all(len(f) == 16 for f in p["fingerprints"])


@pytest.mark.parametrize(("pattern_type", "field", "listed"), [
    ("message", "$metadata.fingerprint", "fingerprints"),
    ("message", "$metadata.messageTemplate", "templates"),
    ("error", "$metadata.errorTemplate", "templates"),
])
def test_a_pattern_clicks_through_to_its_events(env: Env, pattern_type: str, field: str,
                                                listed: str) -> None:
    """A merged pattern's ``fingerprints`` or ``templates`` select exactly its events (the
    explorer's click-through). Templates hold commas, so the value is a list, not a
    comma-separated string."""
    merged = [p for p in query(env, view="patterns", patternType=pattern_type, limit=5000,
                               ignoreSeries=True)["patterns"] if len(p[listed]) > 1]
    assert merged, "the demo data has word-valued slots, so some patterns merge"
    p = max(merged, key=lambda p: p["count"])
    res = query(env, view="calculations", chartType="aggregate", parameters={
        "calculations": [{"operator": "count"}], "filters": [
            {"key": field, "operation": "in", "type": "string", "value": p[listed]},
            {"key": "$metadata.service", "operation": "eq", "type": "string",
             "value": p["service"]}]})
    assert res["calculations"][0]["aggregates"][0]["count"] == pytest.approx(p["count"])


def test_one_message_shape_is_one_pattern(env: Env) -> None:
    """The issue's example: "tool X failed: timeout" lands in one error pattern per
    service, whatever the tool (its name a word, dotted or not), not one per tool."""
    errors = query(env, view="patterns", patternType="error", limit=5000,
                   ignoreSeries=True)["patterns"]
    failures = [p for p in errors if re.fullmatch(r"tool \S+ failed: .*", p["pattern"])]
    assert failures
    assert all(p["pattern"].startswith("tool <*> failed: ") for p in failures), failures
    timeouts = [p for p in failures
                if re.fullmatch(p["pattern"].replace("<*>", ".+"), "tool x failed: timeout")]
    want = defaultdict(float)
    for r in env.rows:
        if re.fullmatch(r"tool \S+ failed: timeout", r["error"] or ""):
            want[r["service"]] += r["sample_interval"]
    assert len(want) > 1 and len(timeouts) == len(want)  # one per service
    assert all(want[p["service"]] <= p["count"] for p in timeouts)
    # Every message pattern keeps its brackets and quotes balanced.
    for p in query(env, view="patterns", limit=5000, ignoreSeries=True)["patterns"]:
        text = p["pattern"].replace("<*>", "")
        for a, b in ("()", "[]", "{}"):
            assert text.count(a) == text.count(b), p["pattern"]


def shape_labels(labels: list[str]) -> list[str]:
    """Generator labels at the level of a message shape: the entity of an entity family
    ("created {E} {uuid}", expanded per entity into "created order <*>", ...) is a
    variable too, as it is for a reader of the patterns."""
    shape = {}
    for _, text in FAMILIES:
        for e in ENTITIES:
            shape[PLACEHOLDER.sub("<*>", text.replace("{E}", e))] = PLACEHOLDER.sub(
                "<*>", text.replace("{E}", "{x}"))
    return [shape.get(t, t) for t in labels]


def test_view_groups_the_generator_lines_by_shape(env: Env) -> None:
    """Against the generator's message shapes (every placeholder a variable, word-valued
    ones included), the view's patterns group the log lines far better than the stored
    templates alone, which keep table, tool, agent, queue and entity names as words."""
    logs = [r for r in env.rows if r["kind"] == "log" and r["message"]]
    truth = shape_labels(truth_labels([r["message"] for r in logs]))
    pattern_of = {}
    for p in query(env, view="patterns", limit=5000, ignoreSeries=True)["patterns"]:
        for f in p["fingerprints"]:
            pattern_of[f] = p["pattern"]
    mined = [pattern_of[r["fingerprint"]] for r in logs]
    stored = grouping_accuracy([r["fingerprint"] for r in logs], truth)
    ga = grouping_accuracy(mined, truth)
    # Measured 0.49 -> 0.90; what stays split is a first word that varies (the miner's
    # first-word rule), all-capitals words (HTTP methods, colos) and person names.
    assert ga >= 0.85 and ga >= stored + 0.3, (stored, ga)
