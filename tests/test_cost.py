"""Cost from a maintained price table, every GenAI dialect onto the same columns, and
tokens counted once per LLM call (``ingest/enrich.py``).

The oracle for cost is ``genai_prices.calc_price`` called here, directly, on the same
usage; the dialect fixtures use each library's published attribute names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import LiveServer, serve_new
from otlp_build import Span, traces_request
from telequery import semconv as sc
from telequery.ingest.enrich import PRICES_VERSION, price_of
from telequery.ingest.fast import spans_from_bytes

ORG, OTHER = "acme", "globex"
NOW = time.time_ns()
_ids = iter(range(1, 10_000))


def _span(name: str, attrs: dict[str, object], parent: int | None = None,
          trace: int = 1) -> Span:
    n = next(_ids)
    return Span("llm-app", name, NOW - n * 1_000_000, 500_000_000, trace.to_bytes(16, "big"),
                n.to_bytes(8, "big"), parent.to_bytes(8, "big") if parent else b"",
                attrs=attrs)


def _chat(model: str, provider: str, tin: int, tout: int, **extra: object) -> dict:
    return {sc.GEN_AI_OPERATION: "chat", sc.GEN_AI_REQUEST_MODEL: model,
            sc.GEN_AI_PROVIDER: provider, sc.GEN_AI_INPUT_TOKENS: tin,
            sc.GEN_AI_OUTPUT_TOKENS: tout, **extra}


def _oracle(model: str, provider: str, tin: int, tout: int, read: int = 0,
            write: int = 0) -> float:
    usage = Usage(input_tokens=tin, output_tokens=tout, cache_read_tokens=read or None,
                  cache_write_tokens=write or None)
    at = datetime.fromtimestamp(NOW / 1e9, UTC)
    return float(calc_price(usage, model, provider_id=provider,
                            genai_request_timestamp=at).total_price)


def _rows(body: bytes, native: bool) -> list[dict]:
    batch, _ = spans_from_bytes(body, ORG, native=native)
    return batch.table().to_pylist()


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["span_name"]: r for r in rows}


def _source(row: dict) -> str | None:
    return dict(row["attrs_string"] or []).get("telequery.cost.source")


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "reference"])
def test_llm_calls_are_priced_by_provider_model_and_token_kind(native: bool) -> None:
    spans = [
        _span("openai in/out", _chat("gpt-4o", "openai", 1200, 300)),
        _span("openai cached", _chat("gpt-4o-mini", "openai", 5000, 100, **{
            sc.GEN_AI_CACHE_READ_TOKENS: 4000})),
        _span("anthropic read+write", _chat("claude-sonnet-4-5", "anthropic", 9000, 700, **{
            sc.GEN_AI_CACHE_READ_TOKENS: 6000, sc.GEN_AI_CACHE_CREATION_TOKENS: 2000})),
        _span("anthropic long context", _chat("claude-sonnet-4-5", "anthropic", 250_000,
                                              1000)),
        _span("gemini", _chat("gemini-2.5-pro", "gcp.gemini", 300_000, 2000, **{
            sc.GEN_AI_CACHE_READ_TOKENS: 100_000})),
        _span("dated response model", _chat("gpt-4o", "openai", 10, 10, **{
            sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06"})),
        _span("provided", _chat("gpt-4o", "openai", 10, 10, **{sc.GEN_AI_COST: 1.25})),
        _span("unknown", _chat("house-model-7", "vllm", 100, 10)),
    ]
    rows = _by_name(_rows(traces_request(spans).SerializeToString(), native))
    cases = {
        "openai in/out": _oracle("gpt-4o", "openai", 1200, 300),
        "openai cached": _oracle("gpt-4o-mini", "openai", 5000, 100, read=4000),
        "anthropic read+write": _oracle("claude-sonnet-4-5", "anthropic", 9000, 700,
                                        read=6000, write=2000),
        "anthropic long context": _oracle("claude-sonnet-4-5", "anthropic", 250_000, 1000),
        "gemini": _oracle("gemini-2.5-pro", "google", 300_000, 2000, read=100_000),
        "dated response model": _oracle("gpt-4o-2024-08-06", "openai", 10, 10),
    }
    for name, want in cases.items():
        assert rows[name]["cost"] == pytest.approx(want, rel=1e-9), name
        assert _source(rows[name]) == PRICES_VERSION
    assert rows["provided"]["cost"] == 1.25 and _source(rows["provided"]) is None  # kept
    assert rows["unknown"]["cost"] is None and _source(rows["unknown"]) == "unpriced"


@settings(max_examples=200, deadline=None)
@given(model=st.sampled_from([("gpt-4o", "openai"), ("gpt-4.1", "openai"),
                              ("claude-sonnet-4-5", "anthropic"),
                              ("claude-haiku-4-5", "anthropic"), ("gemini-2.5-pro", "google"),
                              ("gemini-2.5-flash", "google")]),
       tin=st.integers(0, 400_000), tout=st.integers(0, 50_000),
       read_share=st.floats(0, 1), write_share=st.floats(0, 1))
def test_the_fast_price_equals_the_library(model: tuple[str, str], tin: int, tout: int,
                                           read_share: float, write_share: float) -> None:
    """Prices are cached as per-token rates per tier: the same number as the library."""
    read = int(tin * read_share)
    write = int((tin - read) * write_share)
    at = datetime.fromtimestamp(NOW / 1e9, UTC)
    got = price_of(model[0], model[1], at, tin, tout, read, write)
    assert got == pytest.approx(_oracle(*model, tin, tout, read, write), rel=1e-9, abs=1e-12)


# -- dialects -------------------------------------------------------------------------------
DIALECTS: dict[str, dict[str, object]] = {
    "old GenAI semconv": {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                          "gen_ai.operation.name": "chat", "gen_ai.usage.prompt_tokens": 100,
                          "gen_ai.usage.completion_tokens": 20},
    "OpenInference": {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                      "llm.provider": "openai", "llm.token_count.prompt": 100,
                      "llm.token_count.completion": 20, "llm.token_count.total": 120},
    "OpenLLMetry": {"llm.request.type": "chat", "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o", "llm.usage.prompt_tokens": 100,
                    "llm.usage.completion_tokens": 20, "llm.usage.total_tokens": 120},
    "Vercel AI SDK": {"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o",
                      "ai.model.provider": "openai.chat", "ai.usage.promptTokens": 100,
                      "ai.usage.completionTokens": 20},
    "Vercel AI SDK 5": {"ai.operationId": "ai.streamText.doStream", "ai.model.id": "gpt-4o",
                        "ai.model.provider": "openai.responses", "ai.usage.inputTokens": 100,
                        "ai.usage.outputTokens": 20},
    "pydantic-ai / logfire": {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                              "gen_ai.request.model": "gpt-4o",
                              "gen_ai.usage.input_tokens": 100,
                              "gen_ai.usage.output_tokens": 20, "operation.cost": 0.5},
}


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "reference"])
def test_every_dialect_lands_on_the_same_columns(native: bool) -> None:
    spans = [_span(name, attrs) for name, attrs in DIALECTS.items()]
    rows = _by_name(_rows(traces_request(spans).SerializeToString(), native))
    for name in DIALECTS:
        r = rows[name]
        assert (r["operation"], r["model"], r["provider"], r["input_tokens"],
                r["output_tokens"]) == ("chat", "gpt-4o", "openai", 100, 20), name
        want = 0.5 if name.startswith("pydantic") else _oracle("gpt-4o", "openai", 100, 20)
        assert r["cost"] == pytest.approx(want), name
        assert dict(r["attrs_number"])  # the original attributes are kept


# -- one count per LLM call ----------------------------------------------------------------
@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with serve_new("duckdb", tmp_path) as server:
        yield server


def _post(live: LiveServer, token: str, spans: list[Span]) -> None:
    r = httpx.post(live.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={"authorization": f"Bearer {token}",
                            "content-type": "application/x-protobuf"})
    assert r.status_code == 200, r.text


def _sum(live: LiveServer, token: str, field: str) -> float:
    now = int(time.time() * 1000)
    r = httpx.post(live.url + "/api/v1/query", headers={"authorization": f"Bearer {token}"},
                   json={"dataset": "events", "from": now - 3_600_000, "to": now + 60_000,
                         "measures": [{"agg": "sum", "field": field}]})
    assert r.status_code == 200, r.text
    return r.json()["rows"][0][0] or 0


def test_agent_totals_are_not_counted_twice(live: LiveServer) -> None:
    """Frameworks put their children's totals on agent/workflow spans: the columns (and
    every measure over them) count each LLM call once; the attributes keep the totals."""
    token = live.token(ORG)
    agent = _span("invoke_agent helper", {sc.GEN_AI_OPERATION: "invoke_agent",
                                          sc.GEN_AI_INPUT_TOKENS: 3000,
                                          sc.GEN_AI_OUTPUT_TOKENS: 300, sc.GEN_AI_COST: 0.9},
                  trace=7)
    parent = int.from_bytes(agent.span_id, "big")
    chats = [_span("chat a", _chat("gpt-4o", "openai", 1000, 100), parent, 7),
             _span("chat b", _chat("gpt-4o", "openai", 2000, 200), parent, 7)]
    workflow = _span("workflow", {"traceloop.span.kind": "workflow",
                                  "llm.usage.prompt_tokens": 3000}, trace=7)
    chain = _span("chain", {"openinference.span.kind": "CHAIN",
                            "llm.token_count.prompt": 3000}, trace=7)
    _post(live, token, [agent, *chats, workflow, chain])
    assert _sum(live, token, "$metadata.inputTokens") == 3000
    assert _sum(live, token, "$metadata.outputTokens") == 300
    want = _oracle("gpt-4o", "openai", 1000, 100) + _oracle("gpt-4o", "openai", 2000, 200)
    assert _sum(live, token, "$metadata.cost") == pytest.approx(want)
    report = httpx.post(live.url + "/api/v1/reports/query", headers={
        "authorization": f"Bearer {token}"}, json={
        "dataset": "llm_generations", "measures": ["input_tokens", "total_tokens"],
        "time_range": {"from": datetime.fromtimestamp(time.time() - 3600, UTC).isoformat(),
                       "to": datetime.fromtimestamp(time.time() + 60, UTC).isoformat()}})
    assert report.json()["rows"] == [{"input_tokens": 3000, "total_tokens": 3300}]


def test_unpriced_models_are_listed_per_org(live: LiveServer) -> None:
    mine, theirs = live.token(ORG), live.token(OTHER)
    _post(live, mine, [_span("u1", _chat("house-model-7", "vllm", 100, 10)),
                       _span("u2", _chat("house-model-7", "vllm", 50, 5)),
                       _span("p", _chat("gpt-4o", "openai", 10, 10))])
    _post(live, theirs, [_span("x", _chat("their-secret-model", "vllm", 1, 1))])
    r = httpx.get(live.url + "/api/v1/cost/unpriced",
                  headers={"authorization": f"Bearer {mine}"})
    assert r.status_code == 200, r.text
    assert r.json()["models"] == [{"provider": "vllm", "model": "house-model-7", "calls": 2,
                                   "input_tokens": 150, "output_tokens": 15}]
    bad = httpx.get(live.url + "/api/v1/cost/unpriced?since_hours=-1",
                    headers={"authorization": f"Bearer {mine}"})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == \
        "since_hours"


def test_an_orgs_negotiated_prices_win_over_the_table(live: LiveServer) -> None:
    admin, query_only = live.token(ORG), live.token(ORG, ("query", "ingest"))
    other = live.token(OTHER)
    headers = {"authorization": f"Bearer {admin}"}
    r = httpx.put(live.url + "/api/v1/prices/gpt-4o", headers=headers,
                  json={"input": 1.0, "output": 2.0, "cache_read": 0.5})
    assert r.status_code == 200, r.text
    assert httpx.get(live.url + "/api/v1/prices", headers=headers).json()["prices"] == [
        {"model": "gpt-4o", "input": 1.0, "output": 2.0, "cache_read": 0.5}]
    assert httpx.put(live.url + "/api/v1/prices/gpt-4o", json={"input": -1, "output": 1},
                     headers=headers).status_code == 400
    assert httpx.put(live.url + "/api/v1/prices/gpt-4o", json={"input": 1, "output": 1},
                     headers={"authorization": f"Bearer {query_only}"}).status_code == 403
    _post(live, query_only, [_span("negotiated", _chat("gpt-4o", "openai", 10_000, 1_000, **{
        sc.GEN_AI_CACHE_READ_TOKENS: 4_000}))])
    _post(live, other, [_span("list price", _chat("gpt-4o", "openai", 10_000, 1_000))])
    want = (6_000 * 1.0 + 4_000 * 0.5 + 1_000 * 2.0) / 1e6  # only acme negotiated
    assert _sum(live, query_only, "$metadata.cost") == pytest.approx(want)
    assert _sum(live, other, "$metadata.cost") == pytest.approx(
        _oracle("gpt-4o", "openai", 10_000, 1_000))
    assert httpx.delete(live.url + "/api/v1/prices/gpt-4o", headers=headers).status_code == 200
    assert httpx.delete(live.url + "/api/v1/prices/gpt-4o", headers=headers).status_code == 404


def test_sql_counts_once_per_call_too(live: LiveServer) -> None:
    token = live.token(ORG)
    agent = _span("invoke_agent sql", {sc.GEN_AI_OPERATION: "invoke_agent",
                                       sc.GEN_AI_INPUT_TOKENS: 500}, trace=9)
    parent = int.from_bytes(agent.span_id, "big")
    _post(live, token, [agent, _span("chat sql", _chat("gpt-4o", "openai", 500, 5), parent, 9)])
    r = httpx.post(live.url + "/api/v1/sql", headers={"authorization": f"Bearer {token}"},
                   json={"sql": "SELECT sum(input_tokens) FROM spans WHERE trace_id = "
                                f"'{(9).to_bytes(16, 'big').hex()}'"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[500]]
