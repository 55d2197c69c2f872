"""Shared data and the independent oracle for the gateway metrics tests (no tests here).

Data: synthetic agent/worker telemetry for two orgs over a window that crosses a month
boundary, plus hand-built spans with ``telequery.sample_interval`` > 1 (so weighting
shows) and marker spans for the other org (so tenancy leaks would show). The oracle reads
the stored rows back with plain SQL and recomputes every answer in plain Python/numpy.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from sqlglot import exp

from conftest import ENGINES, LiveServer, make_store, serve
from otlp_build import kvs
from telequery import semconv as sc
from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.query.ir import to_us
from telequery.schema import Logical
from telequery.synth import generate

ORG, OTHER = "acme", "globex"
START = datetime(2026, 3, 31, 12, tzinfo=UTC)
END = datetime(2026, 4, 2, 12, tzinfo=UTC)
WINDOW = {"startTs": "2026-03-31T12:00:00.000Z", "endTs": "2026-04-02T12:00:00.000Z"}
URL = "/api/svc/v1/llm-gateway/metrics/query"
LLM_OPS = {"chat", "text_completion", "generate_content", "embeddings"}

HAS_CHDB_STORE = importlib.util.find_spec("telequery.store.clickhouse") is not None
ENGINE_PARAMS = [
    e if e != "chdb" or HAS_CHDB_STORE else pytest.param(e, marks=pytest.mark.skip(
        reason="notyet: the chdb store (telequery.store.clickhouse) has not landed"))
    for e in ENGINES
]


# -- data -------------------------------------------------------------------------------
def _span(name: str, kind: int, start: datetime, ms: float, attrs: dict[str, object],
          error: bool = False) -> Span:
    t0 = to_us(start) * 1000
    return Span(trace_id=os.urandom(16), span_id=os.urandom(8), name=name, kind=kind,
                start_time_unix_nano=t0, end_time_unix_nano=t0 + int(ms * 1e6),
                attributes=kvs(attrs), status=Status(code=2 if error else 1))


def _request(service: str, spans: list[Span]) -> ExportTraceServiceRequest:
    res = ResourceSpans()
    res.resource.attributes.extend(kvs({sc.SERVICE_NAME: service}))
    res.scope_spans.append(ScopeSpans(spans=spans))
    return ExportTraceServiceRequest(resource_spans=[res])


def weighted_spans(prefix: str) -> ExportTraceServiceRequest:
    """An agent run, an LLM call and an MCP call that each stand for several sampled ones."""
    t = START + timedelta(hours=3)
    who = {sc.USER_EMAIL: f"{prefix}@example.com", sc.TEAM: [f"{prefix}-team", "shared"]}
    return _request("agent-server", [
        _span(f"invoke_agent {prefix}-agent", 2, t, 1234.5, {
            sc.GEN_AI_OPERATION: "invoke_agent", sc.GEN_AI_AGENT_NAME: f"{prefix}-agent",
            sc.AGENT_FRAMEWORK: f"{prefix}-fw", sc.AGENT_SERVER_TYPE: "a2a",
            sc.HTTP_STATUS_CODE: 503, sc.SAMPLE_INTERVAL: 3, **who}, error=True),
        _span(f"chat {prefix}-model", 3, t, 321.0, {
            sc.GEN_AI_OPERATION: "chat", sc.GEN_AI_REQUEST_MODEL: f"{prefix}-model",
            sc.GEN_AI_PROVIDER: "openai", sc.GEN_AI_INPUT_TOKENS: 1000,
            sc.GEN_AI_OUTPUT_TOKENS: 10, sc.GEN_AI_COST: 0.5, sc.GEN_AI_TTFT_MS: 40.0,
            sc.CACHE_LOOKUP_STATUS: "miss", sc.CACHE_TYPE: "exact",
            sc.SAMPLE_INTERVAL: 2, **who}),
        _span(f"guardrail {prefix}-guard", 1, t, 3.0, {
            sc.GUARDRAIL_NAME: f"{prefix}-guard", sc.GUARDRAIL_SCOPE: "output",
            sc.GUARDRAIL_RESULT: "fail", sc.SAMPLE_INTERVAL: 5, **who}),
        _span("routing rule", 1, t, 1.0, {
            sc.RULE_TYPE: "ratelimit", sc.RULE_ID: f"{prefix}-limit",
            sc.RULE_RESULT: "throttled", **who}),
        _span("execute_tool lookup", 3, t, 77.0, {
            sc.GEN_AI_OPERATION: "execute_tool", sc.GEN_AI_TOOL_NAME: f"{prefix}.lookup",
            sc.MCP_SERVER_NAME: f"{prefix}-mcp", sc.MCP_METHOD_NAME: "tools/call",
            sc.SAMPLE_INTERVAL: 4, **who}),
    ])


def load_orgs(store: object) -> None:
    load(store, ORG, generate(7, 6000, START, END))
    load(store, ORG, [weighted_spans("weighted")])
    load(store, OTHER, generate(99, 1500, START, END))
    load(store, OTHER, [weighted_spans("intruder")])


# -- oracle ----------------------------------------------------------------------------
def stored_rows(store: object, org: str) -> list[dict]:
    """Every stored row of ``org``, read back with plain SQL."""
    d = store.dialect  # type: ignore[attr-defined]
    sql = d.render(exp.select(exp.Star()).from_("events").where(exp.EQ(
        this=exp.column("org_id"), expression=d.placeholder("org", Logical.STRING))))
    res = store.execute(sql, {"org": d.param_value(org, Logical.STRING)})  # type: ignore[attr-defined]
    rows = [dict(zip(res.columns, r, strict=True)) for r in res.rows]
    for r in rows:
        ts = r["timestamp"]
        r["ts_us"] = to_us(ts if ts.tzinfo else ts.replace(tzinfo=UTC))
        for m in ("attrs_string", "attrs_number", "attrs_bool"):
            r[m] = dict(r[m] or {})
        r["teams"] = list(r["teams"] or [])
    return rows


def _a(key: str) -> Callable[[dict], object]:
    return lambda r: r["attrs_string"].get(key)


def _c(column: str) -> Callable[[dict], object]:
    return lambda r: r[column]


def _per_token(r: dict, attribute: str, less: int) -> object:
    """The documented rule: the attribute, else (duration - ttft) / (output tokens - less)."""
    if attribute in r["attrs_number"]:
        return r["attrs_number"][attribute]
    out, ttft = r["output_tokens"], r["attrs_number"].get(sc.GEN_AI_TTFT_MS)
    if out is None or out - less <= 0 or ttft is None or r["duration_ms"] is None:
        return None
    return (r["duration_ms"] - ttft) / (out - less)


CALLER: dict[str, Callable[[dict], object]] = {
    "userEmail": _a(sc.USER_EMAIL),
    "virtualAccount": _a(sc.VIRTUAL_ACCOUNT),
    "createdBySubjectSlug": lambda r: r["attrs_string"].get(sc.USER_EMAIL)
    or r["attrs_string"].get(sc.VIRTUAL_ACCOUNT),
    "team": _c("teams"),
    "conversationID": _c("conversation_id"),
    "latencyMs": _c("duration_ms"),
    "isFailure": lambda r: r["status"] == "error",
}
FIELDS: dict[str, dict[str, Callable[[dict], object]]] = {
    "agentMetrics": {
        "agentName": _c("agent_name"), "agentFramework": _a(sc.AGENT_FRAMEWORK),
        "agentServerType": _a(sc.AGENT_SERVER_TYPE), "httpStatusCode": _c("status_code"),
        **CALLER},
    "modelMetrics": {
        "modelName": _c("model"), "requestModel": _a(sc.GEN_AI_REQUEST_MODEL),
        "provider": _c("provider"), "requestType": _c("operation"),
        "agentName": _c("agent_name"), "errorType": _a(sc.ERROR_TYPE),
        "inputTokens": _c("input_tokens"), "outputTokens": _c("output_tokens"),
        "costInUSD": _c("cost"),
        "timeToFirstTokenMs": lambda r: r["attrs_number"].get(sc.GEN_AI_TTFT_MS),
        "virtualModelName": _a(sc.GATEWAY_VIRTUAL_MODEL),
        "virtualModel": _a(sc.GATEWAY_VIRTUAL_MODEL),
        "providerModelName": _a(sc.GEN_AI_RESPONSE_MODEL),
        "errorCode": _a(sc.GATEWAY_ERROR_CODE),
        "providerAccountType": _a(sc.GATEWAY_PROVIDER_ACCOUNT_TYPE),
        "createdBySubjectType": lambda r: "user" if r["attrs_string"].get(sc.USER_EMAIL)
        else "virtualaccount" if r["attrs_string"].get(sc.VIRTUAL_ACCOUNT) else None,
        "traceId": _c("trace_id"),
        "httpStatusCode": _c("status_code"),
        "interTokenLatencyMs": lambda r: _per_token(r, sc.GATEWAY_INTER_TOKEN_MS, 1),
        "timePerOutputTokenLatencyMs":
            lambda r: _per_token(r, sc.GATEWAY_TIME_PER_OUTPUT_TOKEN_MS, 0),
        **CALLER},
    "mcpMetrics": {
        "mcpServerName": _a(sc.MCP_SERVER_NAME), "toolName": _c("tool_name"),
        "method": _a(sc.MCP_METHOD_NAME), "agentName": _c("agent_name"),
        "errorType": _a(sc.ERROR_TYPE), **CALLER},
    "guardrailMetrics": {
        "guardrailName": _a(sc.GUARDRAIL_NAME), "appliedOnEntityScope": _a(sc.GUARDRAIL_SCOPE),
        "guardrailResult": _a(sc.GUARDRAIL_RESULT), "modelName": _a(sc.GEN_AI_REQUEST_MODEL),
        **CALLER},
    "configMetrics": {
        "configType": _a(sc.RULE_TYPE), "ruleId": _a(sc.RULE_ID),
        "configResult": _a(sc.RULE_RESULT), "targetModel": _a(sc.RULE_TARGET_MODEL),
        "modelName": _a(sc.GEN_AI_REQUEST_MODEL), **CALLER},
}
FIELDS["cacheMetrics"] = {
    **FIELDS["modelMetrics"],
    "cacheType": _a(sc.CACHE_TYPE), "cacheNamespace": _a(sc.CACHE_NAMESPACE),
    "cacheLookupStatus": _a(sc.CACHE_LOOKUP_STATUS),
    "savedInputTokens": lambda r: r["attrs_number"].get(sc.CACHE_SAVED_INPUT_TOKENS),
    "savedOutputTokens": lambda r: r["attrs_number"].get(sc.CACHE_SAVED_OUTPUT_TOKENS),
    "savedCostInUSD": lambda r: r["attrs_number"].get(sc.CACHE_SAVED_COST)}
NUMERIC = {"httpStatusCode", "latencyMs", "inputTokens", "outputTokens", "costInUSD",
           "timeToFirstTokenMs", "interTokenLatencyMs", "timePerOutputTokenLatencyMs",
           "savedInputTokens", "savedOutputTokens", "savedCostInUSD"}


def dataset_rows(rows: list[dict], datasource: str, start: datetime = START,
                 end: datetime = END) -> list[dict]:
    """The rows a datasource holds in [start, end), by its documented definition."""
    lo, hi = to_us(start), to_us(end)
    win = [r for r in rows if lo <= r["ts_us"] < hi]
    if datasource == "modelMetrics":
        return [r for r in win if r["kind"] == "span" and r["operation"] in LLM_OPS]
    if datasource == "mcpMetrics":
        return [r for r in win if r["kind"] == "span" and sc.MCP_SERVER_NAME in r["attrs_string"]]
    if datasource == "cacheMetrics":  # the model rows with a cache lookup
        return [r for r in win if r["kind"] == "span" and r["operation"] in LLM_OPS
                and sc.CACHE_LOOKUP_STATUS in r["attrs_string"]]
    if datasource == "guardrailMetrics":
        return [r for r in win if r["kind"] == "span" and sc.GUARDRAIL_NAME in r["attrs_string"]]
    if datasource == "configMetrics":
        return [r for r in win if r["kind"] == "span" and sc.RULE_TYPE in r["attrs_string"]]
    agent_services = {r["service"] for r in win if r["operation"] == "invoke_agent"
                      and r["service"] is not None}
    return [r for r in win if r["kind"] == "span" and (
        r["operation"] == "invoke_agent"
        or (r["span_kind"] == "server" and r["parent_span_id"] is None
            and r["service"] in agent_services))]


def aggregate(rows: list[dict], kind: str, column: str | None, get: Callable | None
              ) -> object:
    """One aggregation over rows, weighted by sample_interval where the engine weighs."""
    if kind == "total":
        return sum(r["sample_interval"] for r in rows)
    assert get is not None
    pairs = [(get(r), r["sample_interval"]) for r in rows]
    pairs = [(v, w) for v, w in pairs if v is not None]
    if kind == "count":
        return sum(w for _, w in pairs)
    if kind == "countDistinct":
        return len({v for v, _ in pairs})
    if kind == "min":
        return min((v for v, _ in pairs), default=None)
    if kind == "max":
        return max((v for v, _ in pairs), default=None)
    nums = [(float(v), w) for v, w in pairs]
    if kind == "sum":
        return sum(v * w for v, w in nums)
    if not nums:
        return None
    if kind == "avg":
        return sum(v * w for v, w in nums) / sum(w for _, w in nums)
    q = {"p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}[kind]
    return float(np.quantile([v for v, _ in nums], q, method="linear"))


def group_keys(row: dict, getters: list[Callable]) -> list[tuple]:
    """A row's group(s); an array dimension (team) gives one group per element, or NULL."""
    keys: list[tuple] = [()]
    for get in getters:
        v = get(row)
        values = (v or [None]) if isinstance(v, list) else [v]
        keys = [(*k, x) for k in keys for x in values]
    return keys


def close(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


# -- the live server ------------------------------------------------------------------
@dataclass
class Env:
    live: LiveServer
    token: str
    other_token: str
    rows: list[dict]
    other_rows: list[dict]
    client: httpx.Client

    def post(self, body: dict, token: str | None = None) -> httpx.Response:
        return self.client.post(URL, json=body, headers={
            "Authorization": f"Bearer {token or self.token}"})

    def points(self, body: dict, token: str | None = None) -> list[dict]:
        r = self.post(body, token)
        assert r.status_code == 200, r.text
        return r.json()["data"]["dataPoints"]


@contextmanager
def open_env(engine: str, path: Path) -> Iterator[Env]:
    """Both orgs loaded into a real store, served by a real uvicorn."""
    store = make_store(engine, path)
    load_orgs(store)
    meta = Meta(path / "meta.sqlite")
    try:
        with serve(store, meta) as live, httpx.Client(base_url=live.url, timeout=60) as c:
            yield Env(live, live.token(ORG, ("query",)), live.token(OTHER, ("query",)),
                      stored_rows(store, ORG), stored_rows(store, OTHER), c)
    finally:
        meta.close()
        store.close()


# -- expected responses -------------------------------------------------------------------
SUBJECT_NAMES = {"useremail", "virtualaccount", "createdbysubjectslug"}


def response_key(name: str) -> str:
    return "createdBySubjectSlug" if name.lower() in SUBJECT_NAMES else name


def getter(datasource: str, name: str) -> Callable[[dict], object]:
    if name.startswith("metadata."):  # custom request metadata: a string span attribute
        return _a(name[len("metadata."):])
    if name.lower() in SUBJECT_NAMES:
        return FIELDS[datasource]["createdBySubjectSlug"]
    return FIELDS[datasource][name]


def matches(v: object, op: str, arg: object) -> bool:
    """The gateway operator ``op`` on one row value (negations keep NULLs)."""
    negated = {"NOT_EQUAL": "EQUAL", "NOT_IN": "IN", "STRING_NOT_CONTAINS": "STRING_CONTAINS",
               "STRING_NOT_STARTS_WITH": "STRING_STARTS_WITH",
               "STRING_NOT_ENDS_WITH": "STRING_ENDS_WITH", "ARRAY_HAS_NONE": "ARRAY_HAS_ANY"}
    if op in negated:
        return not matches(v, negated[op], arg)
    if op == "IS_NULL":
        return (v is None) == arg
    if v is None:
        return False
    if op == "ARRAY_HAS_ANY":
        return any(x in arg for x in v)  # type: ignore[operator, union-attr]
    checks: dict[str, Callable[[], bool]] = {
        "EQUAL": lambda: v == arg, "IN": lambda: v in arg,  # type: ignore[operator]
        "GREATER_THAN": lambda: v > arg, "LESS_THAN": lambda: v < arg,  # type: ignore[operator]
        "GREATER_THAN_EQUAL": lambda: v >= arg,  # type: ignore[operator]
        "LESS_THAN_EQUAL": lambda: v <= arg,  # type: ignore[operator]
        "BETWEEN": lambda: arg[0] <= v <= arg[1],  # type: ignore[index, operator]
        "STRING_CONTAINS": lambda: arg in v,  # type: ignore[operator]
        "STRING_STARTS_WITH": lambda: v.startswith(arg),  # type: ignore[union-attr]
        "STRING_ENDS_WITH": lambda: v.endswith(arg),  # type: ignore[union-attr]
    }
    return checks[op]()


def _iso(us: int) -> str:
    t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def expected_points(rows: list[dict], body: dict, step_s: int | None = None,
                    months: int | None = None) -> list[dict]:
    """The response the gateway should give, computed from the stored rows."""
    ds = body["datasource"]
    start = datetime.fromisoformat(body["startTs"])
    end = datetime.fromisoformat(body["endTs"])
    data = dataset_rows(rows, ds, start, end)
    for f in body.get("filters", []):
        get = (FIELDS[ds][f["fieldName"]] if "fieldName" in f
               else _a(f["metadataKey"]))
        data = [r for r in data if matches(get(r), f["operator"], f["value"])]
    names = body.get("groupBy", [])
    keys = list(dict.fromkeys(response_key(n) for n in names))
    getters = [getter(ds, k) for k in keys]
    aggs = [(a["type"], a["column"]) for a in body.get("aggregations", [])]

    def bucket(r: dict) -> int | None:
        if months:
            t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=r["ts_us"])
            return ((t.year - 1970) * 12 + t.month - 1) // months * months
        if step_s:
            return r["ts_us"] // (step_s * 1_000_000) * step_s * 1_000_000
        return None

    groups: dict[tuple, list[dict]] = {}
    seen: dict[tuple, None] = {}
    for r in data:
        for g in group_keys(r, getters):
            seen.setdefault(g, None)
            groups.setdefault((bucket(r), g), []).append(r)
    if step_s or months:
        if months:
            def index(t: datetime) -> int:
                return (t.year - 1970) * 12 + t.month - 1
            first = index(start) // months * months
            last = index(end - timedelta(microseconds=1)) // months * months
            grid = range(first, last + 1, months)
        else:
            step = step_s * 1_000_000  # type: ignore[operator]
            grid = range(to_us(start) // step * step, to_us(end), step)
        if not seen and not keys:
            seen[()] = None
        cells = [(b, g) for b in grid for g in seen]
    else:
        cells = list(groups) or ([(None, ())] if not keys else [])  # one summary row
    out = []
    for b, g in cells:
        members = groups.get((b, g), [])
        point: dict[str, object] = {}
        if b is not None:
            if months:
                def month_us(i: int) -> int:
                    return to_us(datetime(1970 + i // 12, i % 12 + 1, 1, tzinfo=UTC))
                point["startTimestamp"] = _iso(month_us(b))
                point["endTimestamp"] = _iso(month_us(b + months))
            else:
                point["startTimestamp"] = _iso(b)
                point["endTimestamp"] = _iso(b + step_s * 1_000_000)  # type: ignore[operator]
        point.update(zip(keys, g, strict=True))
        point["total"] = aggregate(members, "total", None, None)
        for kind, column in aggs:
            point[f"{kind}{column[0].upper()}{column[1:]}"] = aggregate(
                members, kind, column, FIELDS[ds][column])
        out.append(point)
    return out


def assert_same_points(got: list[dict], want: list[dict]) -> None:
    """Same points (any order), same keys, values equal within float tolerance."""
    measures = {"total"} | {k for p in want for k in p if k[:1].islower() and (
        k.startswith(("count", "sum", "avg", "min", "max", "p5", "p7", "p9")))}

    def key(p: dict) -> tuple:
        return tuple(sorted((k, repr(v)) for k, v in p.items() if k not in measures
                            and k != "endTimestamp"))

    assert len(got) == len(want), (len(got), len(want))
    by_key = {key(p): p for p in want}
    assert len(by_key) == len(want)
    for p in got:
        w = by_key.get(key(p))
        assert w is not None, f"unexpected point {p}"
        assert set(p) == set(w), (sorted(p), sorted(w))
        for k in p:
            assert close(p[k], w[k]), (k, p[k], w[k], p)
