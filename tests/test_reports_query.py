"""Reports queries over the live server, checked against the plain-Python oracle.

Every dataset with every measure and every dimension, filters, ordering, limits,
freshness, tenancy, and exports (CSV/JSON parse back to the same rows).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import ENGINES
from otlp_build import Log, logs_request
from reports_data import (
    NOW,
    ORG,
    QUERY_RANGE,
    ReportsEnv,
    close,
    reports_server,
)
from telequery.query.datasets.reports import REPORTS

DATASETS = list(REPORTS)


@pytest.fixture(scope="module", params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ReportsEnv]:
    path = Path(tmp_path_factory.mktemp(f"reports_query_{request.param}"))
    with reports_server(path, request.param) as e:
        yield e


def query(env: ReportsEnv, body: dict, client: str = "client") -> dict:
    r = getattr(env, client).post("/query", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def keyed(result: dict, dims: list[str], measures: list[str]) -> dict[tuple, dict]:
    return {tuple(row[d] for d in dims): {m: row[m] for m in measures}
            for row in result["rows"]}


def assert_matches(got: dict[tuple, dict], want: dict[tuple, dict]) -> None:
    assert set(got) == set(want), (sorted(map(str, set(got) ^ set(want)))[:5])
    for k, values in want.items():
        for m, v in values.items():
            assert close(got[k][m], v), (k, m, got[k][m], v)


def test_catalog_lists_the_contract(env: ReportsEnv) -> None:
    body = env.client.get("/catalog").json()
    by_name = {d["name"]: d for d in body["datasets"]}
    assert set(by_name) == {"llm_generations", "tool_calls", "turns", "sessions",
                            "budget_postings"}
    common = ["session", "user", "principal", "agent", "agent_name", "harness",
              "harness_name", "app", "blueprint", "day"]
    extra = {
        "llm_generations": ["turn", "model", "provider", "finish_reason"],
        "tool_calls": ["turn", "tool", "tool_display_name", "tool_status", "capability",
                       "capability_name"],
        "turns": ["turn", "turn_status"],
        "sessions": ["session_status"],
        "budget_postings": ["budget", "budget_subject_type", "budget_subject", "currency",
                            "meter_source", "ref_type"],
    }
    measures = {
        "llm_generations": ["input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_creation_tokens", "total_tokens", "duration_ms",
                            "avg_duration_ms", "time_to_first_token_ms",
                            "avg_time_to_first_token_ms", "success_count", "error_count"],
        "tool_calls": ["call_count", "success_count", "error_count", "timeout_count",
                       "cancelled_count", "duration_ms", "avg_duration_ms"],
        "turns": ["turn_count", "duration_ms", "avg_duration_ms", "iterations",
                  "tool_call_count", "success_count", "error_count", "input_tokens",
                  "output_tokens", "total_tokens"],
        "sessions": ["session_count", "duration_ms", "avg_duration_ms", "turn_count",
                     "tool_call_count", "input_tokens", "output_tokens", "total_tokens"],
        "budget_postings": ["amount", "debit_count", "credit_count"],
    }
    for name, d in by_name.items():
        assert set(d["dimensions"]) == set(common + extra[name]), name
        assert d["filter_fields"] == d["dimensions"]
        assert d["measures"] == measures[name]


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_dimension_and_measure_matches_the_oracle(env: ReportsEnv, dataset: str) -> None:
    spec = REPORTS[dataset]
    measures = list(spec.measures)
    rows = env.oracle_rows(dataset)
    assert rows, f"no {dataset} rows in the test data"
    # No dimension: one aggregate row.
    result = query(env, {"dataset": dataset, "time_range": QUERY_RANGE, "measures": measures})
    assert [c["name"] for c in result["columns"]] == measures
    assert all(c["kind"] == "measure" for c in result["columns"])
    assert_matches(keyed(result, [], measures), env.oracle.aggregate(rows, [], measures))
    # Each dimension alone, every measure.
    for dim in spec.dimensions:
        result = query(env, {"dataset": dataset, "time_range": QUERY_RANGE,
                             "dimensions": [dim], "measures": measures, "limit": 1000})
        want = env.oracle.aggregate(rows, [dim], measures)
        assert len(want) > 1 or dim in ("currency",), (dataset, dim, "data lacks variety")
        assert_matches(keyed(result, [dim], measures), want)
    # Several dimensions at once, columns in request order.
    dims = list(reversed(spec.dimensions[-8:]))
    result = query(env, {"dataset": dataset, "time_range": QUERY_RANGE, "dimensions": dims,
                         "measures": measures[::-1], "limit": 1000})
    assert [c["name"] for c in result["columns"]] == dims + measures[::-1]
    assert [c["kind"] for c in result["columns"]] == ["dimension"] * len(dims) + \
        ["measure"] * len(measures)
    assert_matches(keyed(result, dims, measures), env.oracle.aggregate(rows, dims, measures))


def test_sessions_roll_up_their_turns(env: ReportsEnv) -> None:
    """Session totals equal the sum of their turns (same spans, two rollups)."""
    measures = ["turn_count", "tool_call_count", "input_tokens", "output_tokens"]
    sessions = query(env, {"dataset": "sessions", "time_range": QUERY_RANGE,
                           "dimensions": ["session"], "measures": measures, "limit": 1000})
    turns = query(env, {"dataset": "turns", "time_range": QUERY_RANGE,
                        "dimensions": ["session"], "measures": measures, "limit": 1000})
    by_session = keyed(turns, ["session"], measures)
    assert keyed(sessions, ["session"], measures) == by_session
    statuses = {r["session_status"] for r in query(env, {
        "dataset": "sessions", "time_range": QUERY_RANGE, "dimensions": ["session_status"],
        "measures": ["session_count"]})["rows"]}
    # reported lifecycles (the furthest state any span says) and derived outcomes
    assert statuses == {"started", "active", "idle", "completed", "failed"}
    turn_statuses = {r["turn_status"] for r in query(env, {
        "dataset": "turns", "time_range": QUERY_RANGE, "dimensions": ["turn_status"],
        "measures": ["turn_count"]})["rows"]}
    assert turn_statuses == {"completed", "failed", "cancelled"}


def test_a_narrow_window_rolls_up_only_its_events(env: ReportsEnv) -> None:
    mid = NOW - timedelta(days=1, hours=12)
    tr = {"from": (mid - timedelta(hours=18)).isoformat(), "to": mid.isoformat()}
    for dataset in ("sessions", "turns", "tool_calls"):
        measures = list(REPORTS[dataset].measures)
        result = query(env, {"dataset": dataset, "time_range": tr, "dimensions": ["day"],
                             "measures": measures})
        want = env.oracle.aggregate(env.oracle_rows(dataset, tr), ["day"], measures)
        assert_matches(keyed(result, ["day"], measures), want)


FILTER_CASES = [
    ("llm_generations", {"field": "provider", "op": "eq", "value": "openai"},
     lambda r: r["provider"] == "openai"),
    ("llm_generations", {"field": "model", "op": "neq", "value": "gpt-4o-2025"},
     lambda r: r["model"] != "gpt-4o-2025"),
    ("tool_calls", {"field": "tool_status", "op": "in", "value": ["error", "timeout"]},
     lambda r: r["tool_status"] in ("error", "timeout")),
    ("turns", {"field": "agent_name", "op": "gte", "value": "researcher"},
     lambda r: r["agent_name"] is not None and r["agent_name"] >= "researcher"),
    ("sessions", {"field": "user", "op": "lt", "value": "u_c"},
     lambda r: r["user"] is not None and r["user"] < "u_c"),
    ("budget_postings", {"field": "meter_source", "op": "neq", "value": "manual"},
     lambda r: r["meter_source"] != "manual"),
    ("budget_postings", {"field": "day", "op": "gt", "value": "2000-01-01"}, lambda r: True),
    ("sessions", {"field": "harness", "op": "lte", "value": "hrn_eval"},
     lambda r: r["harness"] is not None and r["harness"] <= "hrn_eval"),
]


@pytest.mark.parametrize(("dataset", "flt", "pred"), FILTER_CASES)
def test_filters(env: ReportsEnv, dataset: str, flt: dict, pred: object) -> None:
    measures = list(REPORTS[dataset].measures)
    result = query(env, {"dataset": dataset, "time_range": QUERY_RANGE, "filters": [flt],
                         "dimensions": ["agent"], "measures": measures})
    want = env.oracle.aggregate(env.oracle_rows(dataset), ["agent"], measures,
                                where=pred)  # type: ignore[arg-type]
    assert want
    assert_matches(keyed(result, ["agent"], measures), want)


def test_filters_are_and_combined(env: ReportsEnv) -> None:
    flts = [{"field": "provider", "op": "eq", "value": "anthropic"},
            {"field": "user", "op": "in", "value": ["u_alice", "u_bob"]}]
    result = query(env, {"dataset": "llm_generations", "time_range": QUERY_RANGE,
                         "filters": flts, "measures": ["success_count", "input_tokens"]})
    want = env.oracle.aggregate(
        env.oracle_rows("llm_generations"), [], ["success_count", "input_tokens"],
        where=lambda r: r["provider"] == "anthropic" and r["user"] in ("u_alice", "u_bob"))
    assert_matches(keyed(result, [], ["success_count", "input_tokens"]), want)


def test_order_by_and_limit(env: ReportsEnv) -> None:
    body = {"dataset": "tool_calls", "time_range": QUERY_RANGE, "dimensions": ["session"],
            "measures": ["call_count", "duration_ms"], "limit": 5,
            "order_by": [{"measure": "duration_ms", "direction": "desc"}]}
    rows = query(env, body)["rows"]
    want = env.oracle.aggregate(env.oracle_rows("tool_calls"), ["session"], ["duration_ms"])
    top = sorted(want.values(), key=lambda v: -v["duration_ms"])[:5]
    assert len(rows) == 5
    assert [r["duration_ms"] for r in rows] == pytest.approx([v["duration_ms"] for v in top])
    body["order_by"] = [{"dimension": "session"}]  # default direction: asc
    rows = query(env, body)["rows"]
    assert [r["session"] for r in rows] == sorted(k[0] for k in want)[:5]
    assert len(query(env, {**body, "limit": 1000})["rows"]) == len(want)


def test_result_envelope_and_freshness(env: ReportsEnv) -> None:
    """freshness_lag_ms is over the org, not the range: how long ago its data was last
    made queryable (its newest stored event, until this server acknowledges some)."""
    result = query(env, {"dataset": "llm_generations", "time_range": QUERY_RANGE,
                         "measures": ["input_tokens"]})
    as_of = datetime.fromisoformat(result["as_of"])
    assert abs(as_of - datetime.now(UTC)) < timedelta(minutes=1)
    newest = max(e["timestamp"] for e in env.oracle.events).replace(tzinfo=UTC)
    expected = (as_of - newest) / timedelta(milliseconds=1)
    assert abs(result["freshness_lag_ms"] - expected) < 2
    empty = query(env, {"dataset": "sessions", "measures": ["session_count"],
                        "time_range": {"from": "2001-01-01T00:00:00Z",
                                       "to": "2001-01-02T00:00:00Z"}})
    assert empty["rows"] == [{"session_count": 0}]
    assert abs(empty["freshness_lag_ms"] - result["freshness_lag_ms"]) < 5_000  # the org's
    # an acknowledged batch makes the org fresh again, whatever its events' times
    token = env.live.token(ORG, ("ingest",))
    old = [Log("svc", "late arrival", int((NOW - timedelta(days=30)).timestamp() * 1e9))]
    r = httpx.post(env.live.url + "/v1/logs", content=logs_request(old).SerializeToString(),
                   headers={"authorization": f"Bearer {token}",
                            "content-type": "application/x-protobuf"})
    assert r.status_code == 200
    again = query(env, {"dataset": "sessions", "measures": ["session_count"],
                        "time_range": QUERY_RANGE})
    assert 0 <= again["freshness_lag_ms"] < 5_000
    nobody = env.live.token("nobody", ("query",))
    r = httpx.post(env.live.url + "/api/v1/reports/query", headers={
        "authorization": f"Bearer {nobody}"}, json={
        "dataset": "sessions", "measures": ["session_count"], "time_range": QUERY_RANGE})
    assert r.status_code == 200 and "freshness_lag_ms" not in r.json()


def test_tenancy(env: ReportsEnv) -> None:
    """globex's rows never show up for acme (and the other way round)."""
    for dataset in DATASETS:
        measures = list(REPORTS[dataset].measures)
        for client, oracle in (("client", env.oracle), ("other", env.other_oracle)):
            rows = oracle.rows(dataset, datetime.fromisoformat(QUERY_RANGE["from"]),
                               datetime.fromisoformat(QUERY_RANGE["to"]))
            result = query(env, {"dataset": dataset, "time_range": QUERY_RANGE,
                                 "dimensions": ["session"], "measures": measures,
                                 "limit": 1000}, client)
            assert_matches(keyed(result, ["session"], measures),
                           oracle.aggregate(rows, ["session"], measures))
    names = {r["agent_name"] for r in query(env, {
        "dataset": "turns", "time_range": QUERY_RANGE, "dimensions": ["agent_name"],
        "measures": ["turn_count"]})["rows"]}
    assert names and not any(str(n).startswith("globex-") for n in names)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_parses_back_to_the_same_rows(env: ReportsEnv, fmt: str) -> None:
    q = {"dataset": "llm_generations", "time_range": QUERY_RANGE,
         "dimensions": ["model", "finish_reason"],
         "measures": ["input_tokens", "avg_duration_ms", "error_count"], "limit": 1000}
    rows = query(env, q)["rows"]
    r = env.client.post("/query/export", json={"query": q, "format": fmt})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["format"] == fmt and out["filename"] == f"report.{fmt}"
    assert out["content_type"] == {"csv": "text/csv; charset=utf-8",
                                   "json": "application/json"}[fmt]
    assert "as_of" in out and out["freshness_lag_ms"] >= 0
    if fmt == "json":  # the whole result, pretty-printed
        whole = json.loads(out["content"])
        assert whole["rows"] == rows and whole["as_of"] == out["as_of"]
        assert [c["name"] for c in whole["columns"]] == q["dimensions"] + q["measures"]
        assert out["content"].startswith("{\n  ")
        return
    assert all(line.startswith('"') and line.endswith('"')
               for line in out["content"].splitlines())  # every cell quoted
    parsed = list(csv.reader(io.StringIO(out["content"])))
    assert parsed[0] == ["model", "finish_reason", "input_tokens", "avg_duration_ms",
                         "error_count"]
    back = [{"model": m or None, "finish_reason": f or None, "input_tokens": float(i),
             "avg_duration_ms": float(a), "error_count": float(e)}
            for m, f, i, a, e in parsed[1:]]
    assert back == rows  # numbers compare equal across int/float


def test_csv_is_the_default_export(env: ReportsEnv) -> None:
    q = {"dataset": "budget_postings", "time_range": QUERY_RANGE, "measures": ["amount"]}
    out = env.client.post("/query/export", json={"query": q}).json()
    assert out["format"] == "csv"
    header, value = list(csv.reader(io.StringIO(out["content"])))
    assert header == ["amount"]
    want = env.oracle.aggregate(env.oracle_rows("budget_postings"), [], ["amount"])
    assert close(float(value[0].lstrip("'")), want[()]["amount"])


def test_csv_cells_cannot_run_as_formulas() -> None:
    """Formula injection: a value a spreadsheet would evaluate gets a leading quote."""
    from telequery.api.reports.response import export_file

    evil = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "\nx", "ok"]
    result = {"as_of": "2026-01-01T00:00:00Z", "columns": [{"name": "=name", "kind": "d"}],
              "rows": [{"=name": v} for v in evil]}
    out = export_file(result, "csv", "Tool usage")
    assert out["filename"] == "tool-usage.csv"
    cells = [r[0] for r in csv.reader(io.StringIO(out["content"]))]
    assert cells == ["'=name", *("'" + v for v in evil[:-1]), "ok"]
