"""The synthetic generator: exact, deterministic, in range, and shaped like real telemetry."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telequery import semconv as sc
from telequery.synth import GeneratedStats, generate, message_templates

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
END = START + timedelta(days=2)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Flat:
    """Decoded output of one run: plain dicts are easier to assert on than protobuf."""

    requests: list[ExportTraceServiceRequest | ExportLogsServiceRequest]
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _flatten(requests: list[Any]) -> Flat:
    flat = Flat(requests)
    for req in requests:
        if isinstance(req, ExportTraceServiceRequest):
            for rs in req.resource_spans:
                res = _attrs(rs.resource.attributes)
                flat.resources[res[sc.SERVICE_NAME]] = res
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        flat.spans.append(
                            {
                                "service": res[sc.SERVICE_NAME],
                                "trace_id": s.trace_id,
                                "span_id": s.span_id,
                                "parent": s.parent_span_id,
                                "name": s.name,
                                "kind": s.kind,
                                "start": s.start_time_unix_nano,
                                "end": s.end_time_unix_nano,
                                "status": s.status.code,
                                "status_message": s.status.message,
                                "attrs": _attrs(s.attributes),
                            }
                        )
        else:
            for rl in req.resource_logs:
                res = _attrs(rl.resource.attributes)
                flat.resources[res[sc.SERVICE_NAME]] = res
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        flat.logs.append(
                            {
                                "service": res[sc.SERVICE_NAME],
                                "time": lr.time_unix_nano,
                                "severity": lr.severity_text,
                                "severity_number": lr.severity_number,
                                "body": lr.body.string_value,
                                "trace_id": lr.trace_id,
                                "span_id": lr.span_id,
                                "attrs": _attrs(lr.attributes),
                            }
                        )
    return flat


@pytest.fixture(scope="module")
def run() -> Flat:
    return _flatten(list(generate(11, 30_000, START, END)))


def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000


def _serialized(seed: int, events: int) -> list[bytes]:
    return [r.SerializeToString() for r in generate(seed, events, START, END)]


def test_same_seed_gives_identical_bytes_and_other_seeds_differ() -> None:
    a = _serialized(3, 4000)
    assert a == _serialized(3, 4000)
    assert a != _serialized(4, 4000)


@pytest.mark.parametrize("events", [1, 2, 17, 999, 4321])
def test_exact_event_count(events: int) -> None:
    flat = _flatten(list(generate(5, events, START, END)))
    assert len(flat.spans) + len(flat.logs) == events


def test_zero_events_and_bad_arguments() -> None:
    assert list(generate(1, 0, START, END)) == []
    with pytest.raises(ValueError):
        list(generate(1, 10, END, START))
    with pytest.raises(ValueError):
        list(generate(1, -1, START, END))


def test_batches_are_export_requests_of_sensible_size(run: Flat) -> None:
    kinds = Counter(type(r).__name__ for r in run.requests)
    assert set(kinds) == {"ExportTraceServiceRequest", "ExportLogsServiceRequest"}
    for req in run.requests[:-2]:
        if isinstance(req, ExportTraceServiceRequest):
            n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        else:
            n = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
        assert 300 <= n <= 2500
    # Every message survives a wire round trip and renders as OTLP/JSON.
    for req in run.requests[:4]:
        again = type(req).FromString(req.SerializeToString())
        assert again == req
        assert MessageToJson(req)


def test_timestamps_in_range(run: Flat) -> None:
    lo, hi = _ns(START), _ns(END)
    assert all(lo <= s["start"] < hi and s["end"] >= s["start"] for s in run.spans)
    assert all(lo <= r["time"] < hi for r in run.logs)
    # Traffic is spread over the whole range, busier by day than by night.
    hours = Counter((s["start"] - lo) // (3600 * 10**9) for s in run.spans)
    assert len(hours) == 48
    assert hours[14] > 1.5 * hours[2]


def test_short_range_keeps_everything_inside() -> None:
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    end = start + timedelta(seconds=30)
    flat = _flatten(list(generate(9, 3000, start, end)))
    lo, hi = _ns(start), _ns(end)
    assert len(flat.spans) + len(flat.logs) == 3000
    assert all(lo <= s["start"] < hi for s in flat.spans)
    assert all(lo <= r["time"] < hi for r in flat.logs)


def test_resources_and_datasets(run: Flat) -> None:
    assert len(run.resources) >= 12
    keys = {sc.SERVICE_NAME, sc.SERVICE_VERSION, sc.CLOUD_REGION, sc.DATASET}
    keys.add(sc.DEPLOYMENT_ENVIRONMENT)
    for res in run.resources.values():
        assert keys <= set(res)
    datasets = Counter(res[sc.DATASET] for res in run.resources.values())
    assert datasets["otel"] >= 9 and 1 <= datasets["cloudflare-workers"] <= 2
    flat = _flatten(list(generate(1, 500, START, END, org_dataset="acme")))
    assert "acme" in {r[sc.DATASET] for r in flat.resources.values()}


def test_worker_invocations(run: Flat) -> None:
    roots = [s for s in run.spans if s["attrs"].get(sc.FAAS_TRIGGER)]
    assert {r["attrs"][sc.FAAS_TRIGGER] for r in roots} == {"http", "timer", "pubsub"}
    http = [r for r in roots if r["attrs"][sc.FAAS_TRIGGER] == "http"]
    for key in (sc.HTTP_METHOD, sc.HTTP_ROUTE, sc.URL_FULL, sc.HTTP_STATUS_CODE, sc.CLIENT_ADDRESS):
        assert all(key in r["attrs"] for r in http)
    for key in (sc.FAAS_INVOCATION_ID, sc.FAAS_COLDSTART, sc.CF_OUTCOME, sc.CF_COLO):
        assert all(key in r["attrs"] for r in roots)
    codes = Counter(r["attrs"][sc.HTTP_STATUS_CODE] // 100 for r in http)
    assert codes[2] > 0.8 * len(http) and codes[4] > 0 and codes[5] > 0
    outcomes = Counter(r["attrs"][sc.CF_OUTCOME] for r in roots)
    assert {"ok", "exception"} <= set(outcomes)
    failed = [r for r in roots if r["attrs"][sc.CF_OUTCOME] != "ok"]
    assert all(r["status"] == 2 and r["status_message"] for r in failed)
    assert all(sc.ERROR_TYPE in r["attrs"] for r in failed)
    # Logs share the invocation's trace context and request id.
    by_span = {r["span_id"]: r for r in roots}
    worker_logs = [g for g in run.logs if sc.FAAS_INVOCATION_ID in g["attrs"]]
    assert len(worker_logs) > 1000
    linked = [g for g in worker_logs if g["span_id"] in by_span]
    assert len(linked) > 0.95 * len(worker_logs)
    for g in linked:
        root = by_span[g["span_id"]]
        assert g["trace_id"] == root["trace_id"]
        assert g["attrs"][sc.FAAS_INVOCATION_ID] == root["attrs"][sc.FAAS_INVOCATION_ID]
    assert {g["severity"] for g in run.logs} == {"DEBUG", "INFO", "WARN", "ERROR"}
    errors = [g for g in worker_logs if g["severity"] == "ERROR"]
    assert all(
        sc.EXCEPTION_TYPE in g["attrs"] and sc.EXCEPTION_MESSAGE in g["attrs"] for g in errors
    )
    assert any(s["kind"] == 3 and s["parent"] in by_span for s in run.spans)


def test_agent_runs_nest_and_carry_context(run: Flat) -> None:
    spans_by_trace: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
    for s in run.spans:
        spans_by_trace[s["trace_id"]].append(s)
    roots = [s for s in run.spans if s["attrs"].get(sc.GEN_AI_OPERATION) == sc.OP_INVOKE_AGENT]
    assert len(roots) > 300
    context = (sc.GEN_AI_CONVERSATION_ID, sc.GEN_AI_AGENT_NAME, sc.PRINCIPAL, sc.HARNESS_ID)
    context += (sc.APP, sc.BLUEPRINT, sc.TURN_ID, sc.TEAM)
    with_tools = 0
    for root in roots:
        assert (
            root["parent"] == b""
            and root["name"] == "invoke_agent " + root["attrs"][sc.GEN_AI_AGENT_NAME]
        )
        children = [s for s in spans_by_trace[root["trace_id"]] if s is not root]
        ops = Counter(c["attrs"][sc.GEN_AI_OPERATION] for c in children)
        assert 1 <= ops[sc.OP_CHAT] <= 6 and set(ops) <= {sc.OP_CHAT, sc.OP_EXECUTE_TOOL}
        with_tools += ops[sc.OP_EXECUTE_TOOL] > 0
        assert root["attrs"][sc.TURN_ITERATIONS] == ops[sc.OP_CHAT]
        for c in children:
            assert c["parent"] == root["span_id"]
            assert root["start"] <= c["start"] <= c["end"] <= root["end"]
            for key in context:
                assert c["attrs"][key] == root["attrs"][key]
        assert 1 <= len(root["attrs"][sc.TEAM]) <= 2
        assert (sc.USER_ID in root["attrs"]) != (sc.VIRTUAL_ACCOUNT in root["attrs"])
        # A run with a failed child is a failed run.
        child_failed = any(c["status"] == 2 for c in children)
        assert (root["status"] == 2) == child_failed
        assert (root["attrs"][sc.HTTP_STATUS_CODE] >= 400) == child_failed
    assert with_tools > 0.5 * len(roots)
    # Conversations span several turns, minutes apart.
    turns = defaultdict(set)
    for root in roots:
        turns[root["attrs"][sc.GEN_AI_CONVERSATION_ID]].add(root["attrs"][sc.TURN_ID])
    assert max(len(t) for t in turns.values()) >= 4
    assert sum(len(t) > 1 for t in turns.values()) > 0.3 * len(turns)
    # ~1% of traces lost their root span.
    orphans = {s["trace_id"] for s in run.spans if s["parent"]} - {
        s["trace_id"] for s in run.spans if not s["parent"]
    }
    assert 0.002 < len(orphans) / len(spans_by_trace) < 0.03


def test_chat_and_tool_spans(run: Flat) -> None:
    chats = [s for s in run.spans if s["attrs"].get(sc.GEN_AI_OPERATION) == sc.OP_CHAT]
    ok = [c for c in chats if c["status"] != 2]
    assert len(chats) - len(ok) > 0
    usage = (sc.GEN_AI_INPUT_TOKENS, sc.GEN_AI_OUTPUT_TOKENS)
    usage += (sc.GEN_AI_FINISH_REASONS, sc.GEN_AI_TTFT_MS, sc.GEN_AI_RESPONSE_MODEL)
    providers: dict[str, set[str]] = defaultdict(set)
    for c in ok:
        a = c["attrs"]
        assert all(k in a for k in usage)
        # no cost on the span: the demo's costs come from the price table at ingest
        assert sc.GEN_AI_COST not in a and a[sc.GEN_AI_INPUT_TOKENS] > 0
        assert c["name"] == "chat " + a[sc.GEN_AI_REQUEST_MODEL]
        providers[a[sc.GEN_AI_REQUEST_MODEL]].add(a[sc.GEN_AI_PROVIDER])
    assert all(len(p) == 1 for p in providers.values())  # provider is consistent with model
    assert {p for ps in providers.values() for p in ps} >= {"openai", "anthropic", "google"}
    assert any(sc.GEN_AI_CACHE_READ_TOKENS in c["attrs"] for c in ok)
    assert any(sc.GEN_AI_CACHE_CREATION_TOKENS in c["attrs"] for c in ok)
    tokens = sorted(c["attrs"][sc.GEN_AI_INPUT_TOKENS] for c in ok)
    assert tokens[-1] > 5 * tokens[len(tokens) // 2]  # heavy tail
    tools = [s for s in run.spans if s["attrs"].get(sc.GEN_AI_OPERATION) == sc.OP_EXECUTE_TOOL]
    need = (sc.GEN_AI_TOOL_NAME, sc.GEN_AI_TOOL_CALL_ID, sc.GEN_AI_TOOL_TYPE, sc.TOOL_STATUS)
    need += (sc.TOOL_DISPLAY_NAME, sc.CAPABILITY_ID, sc.CAPABILITY_NAME)
    assert all(all(k in t["attrs"] for k in need) for t in tools)
    statuses = Counter(t["attrs"][sc.TOOL_STATUS] for t in tools)
    assert set(statuses) == {"success", "error", "timeout", "cancelled"}
    mcp = [t for t in tools if sc.MCP_SERVER_NAME in t["attrs"]]
    assert mcp and all(t["attrs"][sc.MCP_METHOD_NAME] == "tools/call" for t in mcp)


def test_non_agent_traffic_on_agent_servers(run: Flat) -> None:
    agent_services = {"agent-server", "copilot-api"}
    plain_roots = [
        s
        for s in run.spans
        if s["service"] in agent_services
        and not s["parent"]
        and sc.GEN_AI_OPERATION not in s["attrs"]
    ]
    assert len(plain_roots) > 50
    assert all(sc.GEN_AI_AGENT_NAME not in s["attrs"] for s in plain_roots)


def test_budget_postings(run: Flat) -> None:
    postings = [g for g in run.logs if g["attrs"].get(sc.EVENT_NAME) == sc.BUDGET_POSTING_EVENT]
    assert postings
    keys = {sc.BUDGET_ID, sc.BUDGET_SUBJECT_TYPE, sc.BUDGET_SUBJECT, sc.BUDGET_CURRENCY}
    keys |= {sc.BUDGET_METER_SOURCE, sc.BUDGET_REF_TYPE, sc.BUDGET_AMOUNT}
    assert all(keys <= set(p["attrs"]) for p in postings)
    debits = [p for p in postings if p["attrs"][sc.BUDGET_AMOUNT] > 0]
    credits = [p for p in postings if p["attrs"][sc.BUDGET_AMOUNT] < 0]
    assert credits and all(p["attrs"][sc.BUDGET_REF_TYPE] == "topup" for p in credits)
    assert {p["attrs"][sc.BUDGET_SUBJECT_TYPE] for p in postings} == {"user", "team", "org"}
    assert {p["attrs"][sc.BUDGET_METER_SOURCE] for p in postings} == {"llm", "tool", "manual"}
    # One debit per priced chat, pointing at that chat's span.
    chats = {
        s["span_id"]: s
        for s in run.spans
        if s["attrs"].get(sc.GEN_AI_OPERATION) == sc.OP_CHAT and s["status"] != 2
    }
    generation = [p for p in debits if p["attrs"][sc.BUDGET_REF_TYPE] == "generation"]
    assert len(generation) == len(chats)
    usd = [p for p in generation if p["attrs"][sc.BUDGET_CURRENCY] == "USD"]
    assert len(usd) > 0.8 * len(generation)
    priced = 0
    for p in usd:  # the ledger posts what the price table says the call cost
        want = _library_price(chats[p["span_id"]])
        if want is not None:
            priced += 1
            assert p["attrs"][sc.BUDGET_AMOUNT] == pytest.approx(want, rel=1e-6, abs=1e-8)
    assert priced > 0.8 * len(usd)


def _library_price(chat: dict) -> float | None:
    """genai-prices, asked directly: the response model, else the request model."""
    from datetime import UTC, datetime

    from genai_prices import Usage, calc_price

    a = chat["attrs"]
    read, write = a.get(sc.GEN_AI_CACHE_READ_TOKENS), a.get(sc.GEN_AI_CACHE_CREATION_TOKENS)
    total_in = a[sc.GEN_AI_INPUT_TOKENS]
    if (read or 0) + (write or 0) > total_in:  # docs/semconv.md: then counted apart
        total_in += (read or 0) + (write or 0)
    usage = Usage(input_tokens=total_in, output_tokens=a[sc.GEN_AI_OUTPUT_TOKENS],
                  cache_read_tokens=read, cache_write_tokens=write)
    at = datetime.fromtimestamp(chat["start"] / 1e9, UTC).replace(hour=12, minute=0, second=0,
                                                                 microsecond=0)
    for model in (a[sc.GEN_AI_RESPONSE_MODEL], a[sc.GEN_AI_REQUEST_MODEL]):
        try:
            return float(calc_price(usage, model, provider_id=_provider(a[sc.GEN_AI_PROVIDER]),
                                    genai_request_timestamp=at).total_price)
        except LookupError:
            continue
    return None


def _provider(name: str) -> str:
    return {"gcp.gemini": "google", "aws.bedrock": "aws"}.get(name, name)


def test_event_mix() -> None:
    stats = GeneratedStats()
    for _ in generate(21, 50_000, START, END, stats=stats):
        pass
    assert stats.events == stats.spans + stats.logs == 50_000
    agent_share = stats.unit_events["conversation"] / stats.events
    assert 0.25 < agent_share < 0.45
    assert 0.25 < stats.logs / stats.events < 0.55


def test_log_templates_have_variable_parts(run: Flat) -> None:
    templates = message_templates()
    assert 290 <= len(set(templates)) == len(templates)
    stats = GeneratedStats()
    for _ in generate(2, 120_000, START, END, stats=stats):
        pass
    used = stats.templates_used
    assert len(used) >= 280 and set(used) <= set(templates)
    # Bodies match their templates and the variable parts really vary.
    regexes = [re.compile("^" + re.escape(t).replace(re.escape("<*>"), ".+?") + "$") for t in used]
    bodies = [g["body"] for g in run.logs]
    sample = bodies[:: max(1, len(bodies) // 300)]
    assert all(any(rx.match(b) for rx in regexes) for b in sample)
    assert len(set(bodies)) > 0.6 * len(bodies)


def test_budget_postings_carry_reporting_context(run: Flat) -> None:
    """Debits group by agent, principal, harness, app and blueprint like the spans do."""
    debits = [g for g in run.logs if g["attrs"].get(sc.EVENT_NAME) == sc.BUDGET_POSTING_EVENT
              and g["attrs"][sc.BUDGET_AMOUNT] > 0]
    context = (sc.GEN_AI_AGENT_NAME, sc.GEN_AI_AGENT_ID, sc.APP, sc.BLUEPRINT, sc.PRINCIPAL,
               sc.HARNESS_ID, sc.HARNESS_NAME, sc.GEN_AI_CONVERSATION_ID)
    in_conversation = [p for p in debits if sc.GEN_AI_CONVERSATION_ID in p["attrs"]]
    assert in_conversation and all(all(k in p["attrs"] for k in context)
                                   for p in in_conversation)
    assert all(sc.PRINCIPAL in p["attrs"] for p in debits)
