"""The MCP server through the official ``mcp`` client: over Streamable HTTP against a live
server on both engines, and over stdio (``telequery mcp``) against a server URL and a
data directory. Every tool is called and its numbers compared with a Python oracle over
the generated spans; a token of one org never sees another's rows; bad arguments come
back as tool errors naming the argument."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import ENGINES, LiveServer, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery import semconv as sc
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta

ME, THEM = "acme", "globex"
NS = 1_000_000
HOUR_NS = 3600 * 10**9
NOW = time.time_ns()
TOOLS = {"list_datasets", "describe_dataset", "list_keys", "list_values", "query",
         "run_report", "search_events", "get_trace", "get_agent_run", "top_errors",
         "compare_periods"}


def _tid(org_seed: int, n: int) -> bytes:
    return bytes([org_seed]) + n.to_bytes(15, "big")


def _spans(seed: int, n: int) -> list[Span]:
    """``n`` request traces (root + child, some failing) in the last hour, ``n // 2`` in
    the hour before, and one agent run with two LLM calls and a tool call."""
    out = []
    for i in range(n + n // 2):
        t = NOW - (10 * 60 + i) * 10**9 - (HOUR_NS if i >= n else 0)
        svc = f"svc{i % 3}"
        fail = i % 5 == 0
        out.append(Span(svc, f"GET /items/{i}", t, (i + 1) * NS, _tid(seed, i), _sid(i, 1),
                        attrs={"http.route": "/items/:id", "user.tier": "gold" if i % 2
                               else "free"}))
        out.append(Span(svc, "db query", t + NS, NS, _tid(seed, i), _sid(i, 2), _sid(i, 1),
                        error=fail,
                        attrs={"exception.message": f"timeout after {100 + i} ms on db"}
                        if fail else {}))
    run = _tid(seed, 9999)
    t = NOW - 5 * 60 * 10**9
    ctx = {sc.GEN_AI_AGENT_NAME: "helper", sc.GEN_AI_AGENT_ID: f"agt_{seed}",
           sc.GEN_AI_CONVERSATION_ID: f"conv_{seed}"}
    out += [
        Span("agents", "invoke_agent helper", t, 900 * NS, run, _sid(1, 9),
             attrs={sc.GEN_AI_OPERATION: sc.OP_INVOKE_AGENT, **ctx}),
        Span("agents", "chat gpt-4o", t + 10 * NS, 300 * NS, run, _sid(2, 9), _sid(1, 9),
             attrs={sc.GEN_AI_OPERATION: sc.OP_CHAT, sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                    sc.GEN_AI_PROVIDER: "openai", sc.GEN_AI_INPUT_TOKENS: 100 * seed,
                    sc.GEN_AI_OUTPUT_TOKENS: 10, **ctx}),
        Span("agents", "execute_tool search", t + 400 * NS, 100 * NS, run, _sid(3, 9),
             _sid(1, 9), attrs={sc.GEN_AI_OPERATION: sc.OP_EXECUTE_TOOL,
                                sc.GEN_AI_TOOL_NAME: "search"}),
        Span("agents", "chat gpt-4o", t + 600 * NS, 250 * NS, run, _sid(4, 9), _sid(1, 9),
             attrs={sc.GEN_AI_OPERATION: sc.OP_CHAT, sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                    sc.GEN_AI_PROVIDER: "openai", sc.GEN_AI_INPUT_TOKENS: 300,
                    sc.GEN_AI_OUTPUT_TOKENS: 30 * seed, **ctx}),
    ]
    return out


def _sid(i: int, k: int) -> bytes:
    return (i * 10 + k).to_bytes(8, "big")


def _logs(n: int) -> list[Log]:
    return [Log(f"svc{i % 3}", f"cache miss for key user:{i}", NOW - (5 * 60 + i) * 10**9,
                severity="ERROR" if i % 4 == 0 else "INFO") for i in range(n)]


SIZES = {ME: (1, 30, 12), THEM: (2, 45, 8)}  # org -> (seed, traces, logs)


def _fill(store) -> None:  # type: ignore[no-untyped-def]
    for org, (seed, n, logs) in SIZES.items():
        store.append(spans_to_rows(traces_request(_spans(seed, n)), org).table())
        store.append(logs_to_rows(logs_request(_logs(logs)), org).table())


@pytest.fixture(scope="module", params=ENGINES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(request.param)
    store = make_store(request.param, tmp)
    _fill(store)
    meta = Meta(tmp / "meta.sqlite")
    with serve(store, meta) as server:
        yield server
    store.close()
    meta.close()


async def _session_calls(url: str, token: str, calls: list[tuple[str, dict]]
                         ) -> tuple[list[Any], list[tuple[bool, str]]]:
    http = httpx.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=60)
    async with http, streamable_http_client(url + "/mcp", http_client=http) as (
            read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        results = []
        for name, args in calls:
            r = await session.call_tool(name, args)
            results.append((r.isError, r.content[0].text if r.content else ""))
        return tools, results


def _call(live: LiveServer, org: str, calls: list[tuple[str, dict]]
          ) -> tuple[list[Any], list[Any]]:
    tools, results = asyncio.run(_session_calls(live.url, live.token(org, ("query",)),
                                                calls))
    out = []
    for is_error, text in results:
        out.append(("error", text) if is_error else orjson.loads(text))
    return tools, out


def _spans_of(org: str) -> list[Span]:
    seed, n, _ = SIZES[org]
    return _spans(seed, n)


def test_every_tool_is_listed_with_a_schema_and_a_description(live: LiveServer) -> None:
    tools, _ = _call(live, ME, [])
    assert {t.name for t in tools} == TOOLS
    for t in tools:
        assert t.description and len(t.description) > 40, t.name
        assert t.inputSchema["type"] == "object"
    query = next(t for t in tools if t.name == "query")
    assert "query" in query.inputSchema["properties"]


def test_the_tools_answer_with_the_oracles_numbers(live: LiveServer) -> None:
    spans = _spans_of(ME)
    recent = [s for s in spans if s.start_ns >= NOW - HOUR_NS]
    trace = _tid(1, 3).hex()
    run_id = _tid(1, 9999).hex()
    _, (datasets, described, keys, values, by_service, search, page2, tree, run, errors,
        compare, report) = _call(live, ME, [
            ("list_datasets", {}),
            ("describe_dataset", {"name": "events"}),
            ("list_keys", {"contains": "user"}),
            ("list_values", {"key": "user.tier"}),
            ("query", {"query": {"measures": [{"agg": "count", "alias": "n"}],
                                 "group_by": ["$metadata.service"],
                                 "filter": {"and": [{"field": "$metadata.type", "op": "eq",
                                                     "value": "span"}]},
                                 "order_by": [{"key": "$metadata.service"}]}}),
            ("search_events", {"needle": "cache miss", "limit": 5}),
            ("search_events", {"needle": "cache miss", "limit": 5, "offset": 10}),
            ("get_trace", {"trace_id": trace}),
            ("get_agent_run", {"run_id": run_id}),
            ("top_errors", {"since_hours": 2}),
            ("compare_periods", {"group_by": ["$metadata.service"], "since_hours": 1,
                                 "filters": [{"field": "$metadata.spanName", "op": "eq",
                                              "value": "db query"}]}),
            ("run_report", {"report": {
                "dataset": "llm_generations", "dimensions": ["model"],
                "measures": ["input_tokens", "output_tokens"],
                "time_range": {"from": _iso(NOW - 2 * HOUR_NS), "to": _iso(NOW + 60 * 10**9)}}}),
        ])
    assert {r[0] for r in datasets["rows"]} >= {"events", "traces", "agent_runs", "sessions"}
    assert "$metadata.service" in {r[0] for r in described["rows"]}
    assert {"user.tier"} <= {r[0] for r in keys["rows"]}
    assert sorted(v[0] for v in values["rows"]) == ["free", "gold"]
    want = Counter(s.service for s in spans if s.start_ns >= NOW - 24 * HOUR_NS)
    assert {r[0]: r[1] for r in by_service["rows"]} == dict(want)
    assert search["row_count"] == 5 and search["truncated"] and search["next_offset"] == 5
    assert page2["row_count"] == 2 and page2["next_offset"] is None  # 12 logs in all
    # the trace: a root at depth 0 and its child at depth 1
    assert [(r[0], r[2]) for r in tree["rows"]] == [(0, "GET /items/3"), (1, "db query")]
    assert tree["rows"][1][4] == 1.0  # the child starts 1 ms after the root
    # the agent run: its summary and its four spans
    summary = dict(zip(run["run"]["columns"], run["run"]["rows"][0], strict=True))
    assert summary["inputTokens"] == 100 + 300 and summary["outputTokens"] == 10 + 30
    assert [r[0] for r in run["spans"]["rows"]] == [0, 1, 1, 1]
    # top errors: one pattern for the db timeouts, one for the error logs
    failing = [s for s in spans if s.error]
    counts = {r[0]: r[1] for r in errors["rows"]}
    assert sorted(counts.values(), reverse=True) == sorted(
        [len(failing), sum(1 for i in range(12) if i % 4 == 0)], reverse=True)
    top = errors["rows"][0]
    assert "<*>" in top[0] and top[4].startswith(("timeout after", "cache miss"))
    # compare: db-query spans per service, last hour against the hour before
    now = Counter(s.service for s in recent if s.name == "db query")
    before = Counter(s.service for s in spans if s.name == "db query"
                     and NOW - 2 * HOUR_NS <= s.start_ns < NOW - HOUR_NS)
    got = {r[0]: (r[1], r[2], r[3]) for r in compare["rows"]}
    for svc, n in now.items():
        prev = before.get(svc)
        assert got[svc][0] == n and (got[svc][1] or 0) == (prev or 0)
        assert got[svc][2] == (round((n - prev) / prev * 100, 2) if prev else None)
    # the report: the two chats of the run
    assert not isinstance(report, tuple), report
    rows = {r[0]: r[1:] for r in report["rows"]}
    assert rows["gpt-4o"] == [400, 40]


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def test_a_token_never_sees_another_orgs_rows(live: LiveServer) -> None:
    theirs = _tid(2, 3).hex()
    _, (count, trace, run, search) = _call(live, ME, [
        ("query", {"query": {"measures": [{"agg": "count"}]}}),
        ("get_trace", {"trace_id": theirs}),
        ("get_agent_run", {"run_id": _tid(2, 9999).hex()}),
        ("search_events", {"needle": "items", "limit": 200}),
    ])
    seed, n, logs = SIZES[ME]
    mine = sum(1 for s in _spans(seed, n) if s.start_ns >= NOW - 24 * HOUR_NS) + logs
    assert count["rows"] == [[mine]]
    assert trace[0] == "error" and "no spans" in trace[1]
    assert run[0] == "error" and "no agent run" in run[1]
    assert all(bytes.fromhex(r[7])[0] == 1 for r in search["rows"])  # our seed byte


@pytest.mark.parametrize(("tool", "args", "words"), [
    ("query", {"query": {"measures": [{"agg": "count", "field": "nope.nope"}],
                         "dataset": "traces"}}, "query."),
    ("query", {"query": {"dataset": "nope"}}, "query.dataset"),
    ("get_trace", {"trace_id": " "}, "trace_id: must not be empty"),
    ("describe_dataset", {"name": "nope"}, "name: unknown dataset"),
    ("search_events", {"since_hours": -1}, "since_hours"),
    ("search_events", {"filters": [{"field": "$metadata.level", "op": "like",
                                    "value": "x"}]}, "filters"),
    ("list_values", {"key": "user.tier", "type": "date"}, "type"),
])
def test_bad_arguments_are_tool_errors_naming_the_argument(live: LiveServer, tool: str,
                                                            args: dict, words: str) -> None:
    _, (result,) = _call(live, ME, [(tool, args)])
    assert result[0] == "error", result
    assert words in result[1], result[1]


def test_mcp_needs_a_query_token(live: LiveServer) -> None:
    r = httpx.post(live.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    ingest_only = live.token(ME, ("ingest",))
    r = httpx.post(live.url + "/mcp", json={}, headers={"authorization": f"Bearer {ingest_only}"})
    assert r.status_code == 403


# -- stdio -----------------------------------------------------------------------------------
async def _stdio(args: list[str]) -> tuple[set[str], Any]:
    params = StdioServerParameters(command=sys.executable,
                                   args=["-c", "from telequery.cli import app; app()", "mcp",
                                         *args])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        r = await session.call_tool("query", {"query": {"measures": [{"agg": "count"}]}})
        assert not r.isError, r.content
        return names, orjson.loads(r.content[0].text)


def test_stdio_against_a_server_url(live: LiveServer) -> None:
    token = live.token(THEM, ("query",))
    names, count = asyncio.run(asyncio.wait_for(
        _stdio(["--url", live.url, "--token", token]), 120))
    assert names == TOOLS
    seed, n, logs = SIZES[THEM]
    assert count["rows"] == [[sum(1 for s in _spans(seed, n)
                                  if s.start_ns >= NOW - 24 * HOUR_NS) + logs]]


def test_stdio_against_a_data_directory(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)  # <tmp>/duck, the --store of the CLI
    _fill(store)
    store.close()
    names, count = asyncio.run(asyncio.wait_for(_stdio(
        ["--data", str(tmp_path), "--store", str(tmp_path / "duck"), "--org", ME]), 120))
    assert names == TOOLS
    seed, n, logs = SIZES[ME]
    assert count["rows"] == [[sum(1 for s in _spans(seed, n)
                                  if s.start_ns >= NOW - 24 * HOUR_NS) + logs]]
    meta = Meta(tmp_path / "meta.sqlite")
    assert all(t.revoked for t in meta.list_tokens(ME))  # the session's token is gone
    meta.close()


def test_a_bad_report_names_the_field(live: LiveServer) -> None:
    _, (result,) = _call(live, ME, [("run_report", {"report": {
        "dataset": "llm_generations", "measures": ["nope"],
        "time_range": {"from": _iso(NOW - HOUR_NS), "to": _iso(NOW)}}})])
    assert result[0] == "error" and "report.measures" in result[1] and "nope" in result[1]
