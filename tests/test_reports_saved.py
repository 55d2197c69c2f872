"""Saved reports: create, list, get, patch, run, export, delete; names unique per org."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from reports_data import QUERY_RANGE, ReportsEnv, reports_server


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsEnv]:
    with reports_server(Path(tmp_path_factory.mktemp("reports_saved"))) as e:
        yield e


QUERY = {"dataset": "tool_calls", "time_range": QUERY_RANGE, "dimensions": ["tool"],
         "measures": ["call_count", "error_count"], "limit": 50,
         "filters": [{"field": "tool_status", "op": "in", "value": ["success", "error"]}],
         "order_by": [{"dimension": "tool", "direction": "asc"}]}


def test_saved_report_lifecycle(env: ReportsEnv) -> None:
    c = env.client
    r = c.post("/saved", json={"name": "Tool health", "description": "per tool",
                               "query": QUERY, "dashboard": {"title": "Tools",
                                                             "section": "Agents",
                                                             "chart_type": "bar",
                                                             "position": 2}})
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["name"] == "Tool health" and saved["description"] == "per tool"
    assert saved["dashboard"] == {"title": "Tools", "section": "Agents", "chart_type": "bar",
                                  "position": 2}
    assert saved["query"]["dataset"] == "tool_calls"
    assert datetime.fromisoformat(saved["query"]["time_range"]["from"]) == \
        datetime.fromisoformat(QUERY_RANGE["from"])
    assert saved["created_at"] == saved["updated_at"]
    rid = saved["id"]
    assert c.get(f"/saved/{rid}").json() == saved

    second = c.post("/saved", json={"name": "Spend", "query": {
        "dataset": "budget_postings", "time_range": QUERY_RANGE, "measures": ["amount"]}})
    assert second.status_code == 201
    listed = c.get("/saved").json()["data"]
    assert [s["name"] for s in listed] == ["Spend", "Tool health"]  # newest first

    # Run equals the same ad-hoc query; export parses back to its rows.
    ran = c.post(f"/saved/{rid}/run").json()
    adhoc = c.post("/query", json=QUERY).json()
    assert ran["rows"] == adhoc["rows"] and ran["columns"] == adhoc["columns"]
    assert ran["rows"], "no tool calls in the test data"
    out = c.post(f"/saved/{rid}/export", json={"format": "csv"}).json()
    assert out["filename"].startswith("Tool-health-") and out["filename"].endswith(".csv")
    header, *lines = list(csv.reader(io.StringIO(out["content"])))
    assert header == ["tool", "call_count", "error_count"]
    assert [{"tool": t, "call_count": float(n), "error_count": float(e)}
            for t, n, e in lines] == ran["rows"]
    assert c.post(f"/saved/{rid}/export").json()["format"] == "csv"  # body optional
    assert c.post(f"/saved/{rid}/export", json={"format": "json"}).json()["format"] == "json"

    # PATCH: only present fields change; null clears description and dashboard.
    r = c.patch(f"/saved/{rid}", json={"description": None, "dashboard": None})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["description"] is None and patched["dashboard"] is None
    assert patched["name"] == "Tool health" and patched["query"] == saved["query"]
    assert patched["updated_at"] >= saved["updated_at"]
    new_query = {**QUERY, "measures": ["duration_ms"], "order_by": []}
    patched = c.patch(f"/saved/{rid}", json={"name": "Tool time", "query": new_query}).json()
    assert patched["name"] == "Tool time" and patched["query"]["measures"] == ["duration_ms"]
    assert [col["name"] for col in c.post(f"/saved/{rid}/run").json()["columns"]] == \
        ["tool", "duration_ms"]
    for bad in ({"name": None}, {"query": None}, {"name": ""},
                {"query": {**QUERY, "measures": ["nope"]}}):
        r = c.patch(f"/saved/{rid}", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")

    # Delete.
    assert c.delete(f"/saved/{rid}").status_code == 204
    assert c.get(f"/saved/{rid}").status_code == 404
    assert c.delete(f"/saved/{rid}").status_code == 404
    assert [s["name"] for s in c.get("/saved").json()["data"]] == ["Spend"]


def test_names_are_unique_per_org(env: ReportsEnv) -> None:
    c = env.client
    first = c.post("/saved", json={"name": "Daily sessions", "query": {
        "dataset": "sessions", "time_range": QUERY_RANGE, "dimensions": ["day"],
        "measures": ["session_count"]}}).json()
    r = c.post("/saved", json={"name": "Daily sessions", "query": QUERY})
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["code"] == "duplicate_name" and "name" in p["detail"]
    action = p["allowed_actions"][0]
    assert action["rel"] == "get-existing" and action["method"] == "GET"
    assert action["href"] == f"/api/v1/reports/saved/{first['id']}"
    other = c.post("/saved", json={"name": "Other", "query": QUERY}).json()
    r = c.patch(f"/saved/{other['id']}", json={"name": "Daily sessions"})
    assert r.status_code == 409 and r.json()["allowed_actions"][0]["rel"] == "get-existing"
    # Renaming to its own name is fine.
    assert c.patch(f"/saved/{other['id']}", json={"name": "Other"}).status_code == 200
    # Another org may use the same name, and never sees acme's reports.
    r = env.other.post("/saved", json={"name": "Daily sessions", "query": QUERY})
    assert r.status_code == 201
    theirs = r.json()
    assert [s["name"] for s in env.other.get("/saved").json()["data"]] == ["Daily sessions"]
    assert env.client.get(f"/saved/{theirs['id']}").status_code == 404
    assert env.client.post(f"/saved/{theirs['id']}/run").status_code == 404
    assert env.client.delete(f"/saved/{theirs['id']}").status_code == 404
    assert env.other.get(f"/saved/{first['id']}").status_code == 404
    # A saved report runs for the caller's org only.
    acme = env.client.post(f"/saved/{first['id']}/run").json()["rows"]
    globex = env.other.post(f"/saved/{theirs['id']}/run").json()["rows"]
    assert acme != globex
