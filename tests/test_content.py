"""Prompt and completion content: kept apart in ``content``, redacted at ingest on every
path (OTLP protobuf, OTLP/JSON, NDJSON), shown by the events and trace views, and never
on disk once redacted (``ingest/content.py``, ``redaction.py``).

The dialect fixtures use each library's published attribute and event names: the OTel
GenAI conventions (current ``gen_ai.input.messages`` and older ``gen_ai.prompt`` /
``gen_ai.completion``, span events and log events), OpenLLMetry's indexed
``gen_ai.prompt.<i>.*``, OpenInference's ``input.value`` and ``llm.input_messages.<i>.*``,
the Vercel AI SDK's ``ai.prompt.messages`` / ``ai.response.text`` and logfire's
``all_messages_events``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import LiveServer, serve_new
from otlp_build import Log, Span, logs_request, otlp_json, traces_request
from telequery import semconv as sc
from telequery.api.workers.response import EVENT_COLUMNS
from telequery.destinations.otlp import encode
from telequery.dialect import ClickHouseDialect, Dialect, DuckDBDialect
from telequery.ingest.content import CONTENT_KEYS, CONTENT_PREFIXES, LOG_BODY
from telequery.ingest.fast import logs_from_bytes, spans_from_bytes
from telequery.ingest.log import LOG_DIR, IngestLog
from telequery.query import Agg, Dimension, Measure, Query, TimeRange
from telequery.query._compile import _Compiler
from telequery.redaction import DEFAULT, Policy, Rule

ORG, OTHER = "acme", "globex"
NOW = time.time_ns()
SECRETS = {
    "email": "jane.doe.7731@example-corp.com",
    "phone": "+1 415-555-0199",
    "credit_card": "4242 4242 4242 4242",
    "api_key": "sk-proj-" + "Zx9Qw" * 6,
}
CANARY = "canary-kept-text-8d2f1c"
TEXT = (f"please email {SECRETS['email']} or call {SECRETS['phone']}; card "
        f"{SECRETS['credit_card']}, key {SECRETS['api_key']}. {CANARY}")
_ids = iter(range(1, 100_000))


def _messages(text: str) -> str:
    return json.dumps([{"role": "user", "parts": [{"type": "text", "content": text}]}])


# dialect -> (span attributes, span events, content keys expected)
DIALECTS: dict[str, tuple[dict[str, object], list[tuple[str, dict[str, object]]], set[str]]] = {
    "otel-genai": ({"gen_ai.input.messages": _messages(TEXT),
                    "gen_ai.output.messages": _messages("ok " + CANARY),
                    "gen_ai.system_instructions": "be brief"}, [],
                   {"gen_ai.input.messages", "gen_ai.output.messages",
                    "gen_ai.system_instructions"}),
    "otel-genai-old-attributes": ({"gen_ai.prompt": TEXT, "gen_ai.completion": "ok"}, [],
                                  {"gen_ai.prompt", "gen_ai.completion"}),
    "otel-genai-span-events": ({}, [("gen_ai.user.message", {"content": TEXT}),
                                    ("gen_ai.choice", {"index": 0, "message": "ok"}),
                                    ("gen_ai.content.prompt", {"gen_ai.prompt": TEXT})],
                               {sc.GEN_AI_SPAN_EVENTS}),
    "openllmetry": ({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": TEXT,
                     "gen_ai.completion.0.content": "ok", "traceloop.entity.input": TEXT}, [],
                    {"gen_ai.prompt.0.role", "gen_ai.prompt.0.content",
                     "gen_ai.completion.0.content", "traceloop.entity.input"}),
    "openinference": ({"input.value": TEXT, "output.value": "ok",
                       "llm.input_messages.0.message.role": "user",
                       "llm.input_messages.0.message.content": TEXT,
                       "llm.output_messages.0.message.content": "ok",
                       "openinference.span.kind": "LLM"}, [],
                      {"input.value", "output.value", "llm.input_messages.0.message.role",
                       "llm.input_messages.0.message.content",
                       "llm.output_messages.0.message.content"}),
    "vercel-ai": ({"ai.prompt.messages": json.dumps([{"role": "user", "content": TEXT}]),
                   "ai.response.text": "ok", "ai.toolCall.args": '{"q": "x"}'}, [],
                  {"ai.prompt.messages", "ai.response.text", "ai.toolCall.args"}),
    "logfire": ({"all_messages_events": json.dumps([{"content": TEXT}]),
                 "final_result": "ok"}, [], {"all_messages_events", "final_result"}),
}


def _span(attrs: dict[str, object], events: list | None = None, service: str = "llm-app"
          ) -> Span:
    n = next(_ids)
    return Span(service, "chat gpt-4o-mini", NOW - n * 1_000_000, 400_000_000,
                (7).to_bytes(16, "big"), n.to_bytes(8, "big"),
                attrs={sc.GEN_AI_OPERATION: "chat", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                       "app.kept": "plain attribute", **attrs}, events=events or [])


def _content(row: dict) -> dict[str, str]:
    return dict(row["content"] or [])


def _assert_redacted(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, name


# -- the mapping, per dialect and decoder -------------------------------------------------
@pytest.mark.parametrize("native", [True, False], ids=["compiled", "reference"])
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_each_dialect_lands_in_content(dialect: str, native: bool) -> None:
    attrs, events, keys = DIALECTS[dialect]
    body = traces_request([_span(attrs, events)]).SerializeToString()
    batch, _ = spans_from_bytes(body, ORG, native=native)
    (row,) = batch.table().to_pylist()
    content = _content(row)
    assert set(content) == keys
    strings = dict(row["attrs_string"])
    assert not (set(strings) & CONTENT_KEYS)
    assert not any(k.startswith(CONTENT_PREFIXES) for k in strings)
    assert strings["app.kept"] == "plain attribute"  # other attributes stay where they were
    assert row["model"] == "gpt-4o-mini" and row["operation"] == "chat"
    for value in content.values():
        _assert_redacted(value)
    # The text that held the secrets is there, each secret replaced by its marker.
    marked = [v for v in content.values() if "[REDACTED:email]" in v]
    assert marked and all(CANARY in v for v in marked)
    assert all(f"[REDACTED:{kind}]" in " ".join(marked) for kind in SECRETS)
    if dialect == "otel-genai-span-events":
        found = json.loads(content[sc.GEN_AI_SPAN_EVENTS])
        assert [e["name"] for e in found] == [
            "gen_ai.user.message", "gen_ai.choice", "gen_ai.content.prompt"]
        assert "[REDACTED:email]" in found[0]["attributes"]["content"]
        assert found[1]["attributes"] == {"index": 0, "message": "ok"}


def test_both_decoders_give_the_same_content() -> None:
    spans = [_span(a, e) for a, e, _ in DIALECTS.values()] + [_span({})]
    body = traces_request(spans).SerializeToString()
    compiled = spans_from_bytes(body, ORG, native=True)[0].table()
    reference = spans_from_bytes(body, ORG, native=False)[0].table()
    for col in ("content", "attrs_string", "message", "cost"):
        assert compiled.column(col).to_pylist() == reference.column(col).to_pylist(), col


def test_a_genai_log_event_keeps_its_body_as_content() -> None:
    logs = [Log("llm-app", TEXT, NOW, attrs={sc.EVENT_NAME: "gen_ai.user.message"}),
            Log("llm-app", "user 42 logged in", NOW + 1)]
    for native in (True, False):
        batch, _ = logs_from_bytes(logs_request(logs).SerializeToString(), ORG, native=native)
        event, plain = batch.table().to_pylist()
        assert event["message"] == event["message_template"] == "gen_ai.user.message"
        body = _content(event)[LOG_BODY]
        _assert_redacted(body)
        assert CANARY in body and "[REDACTED:credit_card]" in body
        assert plain["message"] == "user 42 logged in" and not plain["content"]


# -- detectors --------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("write to bob.smith+tag@mail.example.co.uk today", "write to [REDACTED:email] today"),
    ("call (415) 555-0132 or +44 20 7946 0958", "call [REDACTED:phone] or [REDACTED:phone]"),
    ("+447911123456 texted", "[REDACTED:phone] texted"),
    ("card 4111-1111-1111-1111 ok", "card [REDACTED:credit_card] ok"),
    ("card 4111 1111 1111 1112 fails Luhn", "card 4111 1111 1111 1112 fails Luhn"),
    ("amex 3782 822463 10005 ok", "amex [REDACTED:credit_card] ok"),
    # Luhn-valid but no issuer's: a nanosecond timestamp, a snowflake id
    ("at 1764648000000000006 id 1234567812345670", "at 1764648000000000006 id 1234567812345670"),
    ("Authorization: Bearer abcDEF1234567890xyz", "Authorization: Bearer [REDACTED:api_key]"),
    ("key AKIAIOSFODNN7EXAMPLE set", "key [REDACTED:api_key] set"),
    ("token ghp_" + "a1B2" * 9 + " used", "token [REDACTED:api_key] used"),
    ("api_key=s3cr3tvalue99 leaked", "api_key=[REDACTED:api_key] leaked"),
    # not personal data: kept as sent
    ("at 2024-01-02T10:20:30Z from 10.100.20.250 v1.2.3 port 8080 id 123456789",
     "at 2024-01-02T10:20:30Z from 10.100.20.250 v1.2.3 port 8080 id 123456789"),
    ("order 2024-0042 shipped in 12.5 ms", "order 2024-0042 shipped in 12.5 ms"),
])
def test_detectors(text: str, want: str) -> None:
    assert DEFAULT.redact(text) == want


def _luhn_complete(prefix: list[int]) -> str:
    digits = [*prefix, 0]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                for i, d in enumerate(reversed(digits)))
    digits[-1] = (10 - total % 10) % 10
    return "".join(map(str, digits))


@settings(max_examples=80, deadline=None)
@given(issuer=st.sampled_from([("4", 13), ("4", 16), ("4", 19), ("51", 16), ("55", 16),
                               ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)]),
       body=st.lists(st.integers(0, 9), min_size=18, max_size=18),
       sep=st.sampled_from(["", " ", "-"]),
       user=st.from_regex(r"[a-z][a-z0-9._]{0,12}", fullmatch=True),
       domain=st.from_regex(r"[a-z]{2,10}\.(com|io|dev|co\.uk)", fullmatch=True))
def test_any_valid_card_and_email_is_redacted(issuer: tuple[str, int], body: list[int],
                                               sep: str, user: str, domain: str) -> None:
    prefix, length = issuer
    card = _luhn_complete([int(c) for c in prefix] + body[:length - len(prefix) - 1])
    assert len(card) == length
    spaced = sep.join(card[i:i + 4] for i in range(0, len(card), 4))
    email = f"{user}@{domain}"
    out = DEFAULT.redact(f"pay with {spaced} and mail {email} thanks")
    assert out == "pay with [REDACTED:credit_card] and mail [REDACTED:email] thanks"


# -- live server: every path, the API's answer and the bytes on disk ------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    path = Path(tmp_path_factory.mktemp("content"))
    with serve_new("duckdb", path, apply_delay=3600.0) as srv:  # rows stay in the log
        yield srv, path


def _post_all_paths(srv: LiveServer, org: str) -> None:
    token = srv.token(org)
    auth = {"Authorization": f"Bearer {token}"}
    spans = traces_request([_span(a, e, service=f"path-{name}")
                            for name, (a, e, _) in DIALECTS.items()])
    r = httpx.post(srv.url + "/v1/traces", content=spans.SerializeToString(),
                   headers={**auth, "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
    spans_json = traces_request([_span(DIALECTS["otel-genai"][0], service="path-json")])
    r = httpx.post(srv.url + "/v1/traces", content=otlp_json(spans_json),
                   headers={**auth, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    logs = logs_request([Log("path-logs", TEXT, NOW, attrs={sc.EVENT_NAME: "gen_ai.choice"})])
    r = httpx.post(srv.url + "/v1/logs", content=otlp_json(logs),
                   headers={**auth, "content-type": "application/json"})
    assert r.status_code == 200, r.text
    lines = [{"timestamp": NOW // 1_000_000, "service": "path-ndjson", "message": "llm call",
              "gen_ai.prompt": TEXT, "gen_ai.completion": "ok " + CANARY},
             {"timestamp": NOW // 1_000_000, "service": "path-ndjson", "message": TEXT,
              "event.name": "gen_ai.user.message"}]
    r = httpx.post(srv.url + "/v1/events", content=b"\n".join(orjson.dumps(x) for x in lines),
                   headers={**auth, "content-type": "application/x-ndjson"})
    assert r.status_code in (200, 202), r.text


def _events(srv: LiveServer, org: str, **params: object) -> list[dict]:
    r = httpx.post(f"{srv.url}/client/v4/accounts/{org}/workers/observability/telemetry/query",
                   headers={"Authorization": f"Bearer {srv.token(org)}"}, json={
                       "queryId": "adhoc", "view": "events", "limit": 100,
                       "timeframe": {"from": NOW // 1_000_000 - 3_600_000,
                                     "to": NOW // 1_000_000 + 60_000},
                       "parameters": params}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["result"]["events"]["events"]


def test_every_path_redacts_before_anything_is_written(live: tuple[LiveServer, Path]) -> None:
    srv, path = live
    _post_all_paths(srv, ORG)
    # Acknowledged rows are in the ingest log until applied (an hour in this test, or the
    # first query): decoded record by record, and as raw bytes with every other file.
    records = list(IngestLog(Path(srv.store.path) / LOG_DIR).replay(0, repair=False))
    assert records
    logged = json.dumps([r for _, t in records for r in t.to_pylist()], default=str)
    assert CANARY in logged
    _assert_redacted(logged)
    _assert_not_on_disk(path)
    events = _events(srv, ORG)  # applies the log (a query reads every acknowledged row)
    with_content = [e for e in events if e.get("$content")]
    services = {e["$metadata"]["service"] for e in with_content}
    assert services == {f"path-{n}" for n in DIALECTS} | {"path-json", "path-logs",
                                                         "path-ndjson"}
    shown = json.dumps(with_content)
    _assert_redacted(shown)
    assert CANARY in shown and "[REDACTED:api_key]" in shown
    assert not any(k in json.dumps(e["source"]) for e in events for k in
                   ("gen_ai.input.messages", "gen_ai.prompt", "input.value"))
    srv.store.checkpoint()  # type: ignore[attr-defined]  # the rows into the database file
    _assert_not_on_disk(path)
    stored = srv.store.execute("SELECT content, message FROM events WHERE org_id = $org",
                               {"org": ORG})
    dumped = json.dumps(stored.rows, default=str)
    assert CANARY in dumped
    _assert_redacted(dumped)
    # SQL reads content like the attribute maps, redacted, the caller's org only
    r = httpx.post(srv.url + "/api/v1/sql", headers={"Authorization": f"Bearer {srv.token(ORG)}"},
                   json={"sql": "SELECT service, content['gen_ai.input.messages'] AS m "
                                "FROM spans WHERE content['gen_ai.input.messages'] IS NOT NULL "
                                "ORDER BY service",
                         "from": NOW // 1_000_000 - 3_600_000}, timeout=30)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [row[0] for row in rows] == ["path-json", "path-otel-genai"]
    assert all("[REDACTED:email]" in row[1] and CANARY in row[1] for row in rows)


def _assert_not_on_disk(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for name, secret in SECRETS.items():
                assert secret.encode() not in data, (name, f)


@pytest.mark.parametrize("dialect", [DuckDBDialect(), ClickHouseDialect()],
                         ids=["duckdb", "clickhouse"])
def test_content_is_read_only_by_the_views_that_show_it(dialect: Dialect) -> None:
    """An aggregate never reads ``content``; an events page (EVENT_COLUMNS) does."""
    window = TimeRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    aggregate = Query("events", window, measures=(Measure(Agg.COUNT),),
                      group_by=(Dimension("$metadata.service"),))
    page = Query("events", window, columns=EVENT_COLUMNS, limit=10)
    assert "content" not in _Compiler(aggregate, ORG, dialect).compile().sql
    assert "content" in _Compiler(page, ORG, dialect).compile().sql


def test_org_policy_rules_drop_and_scope(live: tuple[LiveServer, Path]) -> None:
    srv, _ = live
    admin = {"Authorization": f"Bearer {srv.token(OTHER)}"}
    bad = httpx.put(srv.url + "/api/v1/redaction", headers=admin, json={
        "rules": [{"name": "ok", "pattern": "("}, {"name": "x y", "pattern": "a"}],
        "scope": "everything"})
    assert bad.status_code == 400
    text = bad.text
    assert "rules[0].pattern" in text or "scope" in text
    r = httpx.put(srv.url + "/api/v1/redaction", headers=admin, json={
        "detectors": ["email"], "scope": "all",
        "rules": [{"name": "ticket", "pattern": r"TCK-\d{6}"}]})
    assert r.status_code == 200, r.text
    assert r.json()["detectors"] == ["email"] and r.json()["scope"] == "all"
    assert httpx.get(srv.url + "/api/v1/redaction", headers=admin).json() == r.json()
    logs = logs_request([Log("policy", f"user {SECRETS['email']} opened TCK-123456 from "
                                       f"{SECRETS['phone']}", NOW + 5)])
    r = httpx.post(srv.url + "/v1/logs", content=logs.SerializeToString(), headers={
        **admin, "content-type": "application/x-protobuf"})
    assert r.status_code == 200
    (ev,) = [e for e in _events(srv, OTHER) if e["$metadata"]["service"] == "policy"]
    msg = ev["$metadata"]["message"]
    assert msg == f"user [REDACTED:email] opened [REDACTED:ticket] from {SECRETS['phone']}"
    assert SECRETS["email"] not in ev["$metadata"].get("messageTemplate", "")
    # drop content: nothing kept; ACME's policy is untouched by OTHER's
    assert httpx.put(srv.url + "/api/v1/redaction", headers=admin,
                     json={"drop_content": True}).status_code == 200
    spans = traces_request([_span(DIALECTS["otel-genai"][0], service="dropped")])
    httpx.post(srv.url + "/v1/traces", content=spans.SerializeToString(), headers={
        **admin, "content-type": "application/x-protobuf"})
    (dropped,) = [e for e in _events(srv, OTHER) if e["$metadata"]["service"] == "dropped"]
    assert "$content" not in dropped
    acme = httpx.get(srv.url + "/api/v1/redaction",
                     headers={"Authorization": f"Bearer {srv.token(ORG)}"}).json()
    assert acme == DEFAULT.as_json()
    reset = httpx.delete(srv.url + "/api/v1/redaction", headers=admin)
    assert reset.status_code == 200 and reset.json() == DEFAULT.as_json()
    query_only = srv.token(OTHER, ("query",))
    r = httpx.get(srv.url + "/api/v1/redaction", headers={"Authorization": f"Bearer {query_only}"})
    assert r.status_code == 403


def test_policy_of_each_org_in_one_table() -> None:
    """Rows of two orgs in one batch (a file load) each get their own org's policy."""
    from telequery.ingest.content import capture
    from telequery.ingest.enrich import enrich

    body = traces_request([_span(DIALECTS["otel-genai-old-attributes"][0])]).SerializeToString()
    raw = pa.concat_tables([enrich(spans_from_bytes(body, org, native=True)[0].parts[0])
                            for org in (ORG, OTHER)])
    policies = {ORG: Policy(detectors=()), OTHER: Policy(drop_content=True)}
    by_org = {r["org_id"]: r for r in capture(raw, policies.__getitem__).to_pylist()}
    assert not by_org[OTHER]["content"]
    assert _content(by_org[ORG])["gen_ai.prompt"] == TEXT  # no detectors: as sent
    assert all(not dict(r["attrs_string"]).get("gen_ai.prompt") for r in by_org.values())


def test_destinations_send_content_back_as_it_came() -> None:
    """A destination receives the (redacted) content as the attributes and log body it
    came from; ingesting that again gives the same content."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = [_span(a, e) for a, e, _ in DIALECTS.values()]
    table = spans_from_bytes(traces_request(spans).SerializeToString(), ORG)[0].table()
    again = ExportTraceServiceRequest.FromString(encode(table, ORG, "opentelemetry-traces"))
    second = spans_from_bytes(again.SerializeToString(), ORG)[0].table()
    assert second.column("content").to_pylist() == table.column("content").to_pylist()
    logs = logs_request([Log("llm-app", TEXT, NOW, attrs={sc.EVENT_NAME: "gen_ai.choice"})])
    ltable = logs_from_bytes(logs.SerializeToString(), ORG)[0].table()
    lagain = ExportLogsServiceRequest.FromString(encode(ltable, ORG, "opentelemetry-logs"))
    assert lagain.resource_logs[0].scope_logs[0].log_records[0].body.string_value == \
        _content(ltable.to_pylist()[0])[LOG_BODY]
    lsecond = logs_from_bytes(lagain.SerializeToString(), ORG)[0].table()
    assert lsecond.column("content").to_pylist() == ltable.column("content").to_pylist()


def test_an_org_rule_redacts_its_matches() -> None:
    assert Policy(rules=(Rule("ssn", r"\b\d{3}-\d{2}-\d{4}\b"),)).redact(
        "ssn 123-45-6789") == "ssn [REDACTED:ssn]"
