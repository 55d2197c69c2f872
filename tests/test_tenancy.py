"""No API returns another org's rows.

Two orgs share one store. Org "beta" holds events whose every string carries a secret
marker; org "alpha" holds ordinary synthetic traffic. Every endpoint of every API is
called with alpha's token in the shapes that read rows (lists, groups, series, keys,
values, exports, traces, agents, patterns, saved objects), and no response may contain
the marker. A token for one org asking for another account's path gets 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery import semconv as sc
from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.synth import generate

START = datetime(2026, 5, 4, tzinfo=UTC)
END = START + timedelta(days=1)
SECRET = "zz-beta-secret"
START_MS = int(START.timestamp() * 1000)
END_MS = int(END.timestamp() * 1000)


def beta_events() -> tuple[list[Span], list[Log]]:
    """Spans and logs of every kind the datasets read, each string carrying the marker."""
    t0 = int(START.timestamp()) * 1_000_000_000 + 3_600_000_000_000
    ctx = {sc.GEN_AI_CONVERSATION_ID: f"conv-{SECRET}", sc.USER_ID: f"user-{SECRET}",
           sc.USER_EMAIL: f"{SECRET}@example.com", sc.GEN_AI_AGENT_NAME: f"agent-{SECRET}",
           sc.GEN_AI_AGENT_ID: f"id-{SECRET}", sc.PRINCIPAL: f"p-{SECRET}",
           sc.HARNESS_NAME: f"h-{SECRET}", sc.TURN_ID: f"turn-{SECRET}",
           sc.TEAM: [f"team-{SECRET}"], sc.VIRTUAL_ACCOUNT: f"va-{SECRET}",
           "secret.attr": SECRET}
    trace = b"\x42" * 16
    root = Span(f"svc-{SECRET}", f"invoke_agent {SECRET}", t0, 5_000_000_000, trace,
                b"\x01" * 8, attrs={sc.GEN_AI_OPERATION: "invoke_agent",
                                    sc.HTTP_STATUS_CODE: 200, **ctx})
    chat = Span(f"svc-{SECRET}", f"chat {SECRET}", t0 + 1_000, 1_000_000_000, trace,
                b"\x02" * 8, b"\x01" * 8, error=True,
                attrs={sc.GEN_AI_OPERATION: "chat", sc.GEN_AI_REQUEST_MODEL: f"m-{SECRET}",
                       sc.GEN_AI_PROVIDER: f"prov-{SECRET}", sc.GEN_AI_INPUT_TOKENS: 7,
                       sc.GEN_AI_OUTPUT_TOKENS: 9, sc.GEN_AI_COST: 0.5, **ctx})
    tool = Span(f"svc-{SECRET}", f"execute_tool {SECRET}", t0 + 2_000, 1_000_000, trace,
                b"\x03" * 8, b"\x01" * 8,
                attrs={sc.GEN_AI_OPERATION: "execute_tool", sc.GEN_AI_TOOL_NAME: f"t-{SECRET}",
                       sc.MCP_SERVER_NAME: f"mcp-{SECRET}", **ctx})
    logs = [Log(f"svc-{SECRET}", f"error {SECRET} happened 42 times", t0 + 3_000, "ERROR",
                trace, b"\x01" * 8, attrs={sc.FAAS_INVOCATION_ID: f"req-{SECRET}", **ctx}),
            Log(f"svc-{SECRET}", f"posting {SECRET}", t0 + 4_000, "INFO",
                attrs={sc.EVENT_NAME: sc.BUDGET_POSTING_EVENT, sc.BUDGET_AMOUNT: 1.5,
                       sc.BUDGET_ID: f"b-{SECRET}", sc.BUDGET_CURRENCY: "USD", **ctx})]
    return [root, chat, tool], logs


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path = Path(tmp_path_factory.mktemp("tenancy"))
    store = make_store("duckdb", path)
    load(store, "alpha", generate(5, 4000, START, END))
    spans, logs = beta_events()
    load(store, "beta", [traces_request(spans), logs_request(logs)])
    load(store, "beta", generate(6, 1000, START, END))
    meta = Meta(path / "meta.sqlite")
    with serve(store, meta) as server:
        yield server
    store.close()


def _check(resp: httpx.Response) -> None:
    """A successful answer (so the check is not vacuous) without the other org's marker."""
    assert resp.status_code == 200, resp.text
    i = resp.text.find(SECRET)
    assert i < 0, resp.text[max(0, i - 400):i + 100]


CF = "/client/v4/accounts/{org}/workers/observability"


def cf_queries() -> list[dict]:
    tf = {"from": START_MS, "to": END_MS}
    base = {"queryId": "t", "timeframe": tf}
    calc = {"calculations": [{"operator": "count"}, {"operator": "uniq",
                                                     "key": "$metadata.service"}]}
    return [
        {**base, "view": "events", "limit": 100, "parameters": {}},
        {**base, "view": "events", "parameters": {"needle": {"value": "beta-sec"}}},
        {**base, "view": "calculations", "parameters": {
            **calc, "groupBys": [{"type": "string", "value": "$metadata.service"}]}},
        {**base, "view": "calculations", "parameters": {
            **calc, "groupBys": [{"type": "string", "value": "secret.attr"}]}},
        {**base, "view": "invocations", "parameters": {}},
        {**base, "view": "requests", "parameters": {}},
        {**base, "view": "traces", "parameters": {}},
        {**base, "view": "agents", "parameters": {}},
        {**base, "view": "patterns", "parameters": {}},
    ]


def test_workers_observability_is_scoped(live: LiveServer) -> None:
    token = live.token("alpha")
    h = {"Authorization": f"Bearer {token}"}
    url = live.url + CF.format(org="alpha")
    for body in cf_queries():
        _check(httpx.post(url + "/telemetry/query", json=body, headers=h, timeout=60))
    _check(httpx.post(url + "/telemetry/keys", json={"from": START_MS, "to": END_MS},
                      headers=h))
    for key in ("$metadata.service", "secret.attr", "user.id"):
        _check(httpx.post(url + "/telemetry/values", headers=h, json={
            "key": key, "type": "string", "datasets": [],
            "timeframe": {"from": START_MS, "to": END_MS}}))
    detail = httpx.get(url + "/traces/" + "42" * 16, headers=h,
                       params={"from": START_MS, "to": END_MS})
    assert detail.status_code in (200, 404) and SECRET not in detail.text
    # Another account's path with alpha's token is refused outright.
    other = live.url + CF.format(org="beta")
    resp = httpx.post(other + "/telemetry/query", json=cf_queries()[0], headers=h)
    assert resp.status_code == 403 and SECRET not in resp.text


def test_gateway_is_scoped(live: LiveServer) -> None:
    h = {"Authorization": f"Bearer {live.token('alpha')}"}
    url = live.url + "/api/svc/v1/llm-gateway/metrics/query"
    group_by = {"agentMetrics": ["agentName", "userEmail", "team", "conversationID"],
                "modelMetrics": ["modelName", "provider"], "mcpMetrics": ["mcpServerName"]}
    for source, dims in group_by.items():
        for kind in ("distribution", "timeseries"):
            for dim in dims:
                body = {"startTs": START.isoformat(), "endTs": END.isoformat(),
                        "datasource": source, "type": kind, "groupBy": [dim],
                        "aggregations": [{"type": "count", "column": "latencyMs"}]}
                if kind == "timeseries":
                    body["interval"] = "1 hour"
                _check(httpx.post(url, json=body, headers=h, timeout=60))


def test_reports_are_scoped(live: LiveServer) -> None:
    h = {"Authorization": f"Bearer {live.token('alpha')}"}
    catalog = httpx.get(live.url + "/api/v1/reports/catalog", headers=h).json()
    tr = {"from": START.isoformat(), "to": END.isoformat()}
    for ds in catalog["datasets"]:
        for dim in ds["dimensions"]:
            query = {"dataset": ds["name"], "time_range": tr, "dimensions": [dim],
                     "measures": ds["measures"][:16], "limit": 1000}
            _check(httpx.post(live.url + "/api/v1/reports/query", json=query, headers=h,
                              timeout=60))
        export = {"query": {"dataset": ds["name"], "time_range": tr,
                            "dimensions": ds["dimensions"][:8],
                            "measures": ds["measures"][:1]}, "format": "csv"}
        _check(httpx.post(live.url + "/api/v1/reports/query/export", json=export, headers=h,
                          timeout=60))


def test_saved_objects_are_scoped(live: LiveServer) -> None:
    beta = {"Authorization": f"Bearer {live.token('beta')}"}
    alpha = {"Authorization": f"Bearer {live.token('alpha')}"}
    saved = httpx.post(live.url + CF.format(org="beta") + "/queries", headers=beta, json={
        "name": f"q-{SECRET}", "description": SECRET, "parameters": {}}).json()["result"]
    report = httpx.post(live.url + "/api/v1/reports/saved", headers=beta, json={
        "name": f"r-{SECRET}", "query": {
            "dataset": "llm_generations", "measures": ["input_tokens"],
            "time_range": {"from": START.isoformat(), "to": END.isoformat()}}}).json()
    _check(httpx.get(live.url + CF.format(org="alpha") + "/queries", headers=alpha))
    missing = httpx.get(live.url + CF.format(org="alpha") + f"/queries/{saved['id']}",
                        headers=alpha)
    assert missing.status_code == 404
    _check(httpx.get(live.url + "/api/v1/reports/saved", headers=alpha))
    for path in (f"/api/v1/reports/saved/{report['id']}",):
        assert httpx.get(live.url + path, headers=alpha).status_code == 404
        assert httpx.post(live.url + path + "/run", headers=alpha).status_code == 404


def test_marker_is_visible_to_its_owner(live: LiveServer) -> None:
    """The control: the same calls with beta's token do find beta's marker."""
    h = {"Authorization": f"Bearer {live.token('beta')}"}
    url = live.url + CF.format(org="beta")
    body = {"queryId": "t", "timeframe": {"from": START_MS, "to": END_MS}, "view": "events",
            "parameters": {"needle": {"value": "beta-sec"}}}
    assert SECRET in httpx.post(url + "/telemetry/query", json=body, headers=h).text
    gateway = httpx.post(live.url + "/api/svc/v1/llm-gateway/metrics/query", headers=h, json={
        "startTs": START.isoformat(), "endTs": END.isoformat(), "datasource": "agentMetrics",
        "type": "distribution", "groupBy": ["agentName"],
        "aggregations": [{"type": "count", "column": "latencyMs"}]})
    assert SECRET in gateway.text
    report = httpx.post(live.url + "/api/v1/reports/query", headers=h, json={
        "dataset": "sessions", "dimensions": ["session"], "measures": ["session_count"],
        "time_range": {"from": START.isoformat(), "to": END.isoformat()}, "limit": 1000})
    assert SECRET in report.text
