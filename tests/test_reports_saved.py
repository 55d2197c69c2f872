"""Saved reports: create, list, get, patch, run, export, delete; duplicate names allowed,
managing needs its own scope, and one org never sees another's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from conftest import ENGINES
from reports_data import QUERY_RANGE, ReportsEnv, reports_server


@pytest.fixture(scope="module", params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ReportsEnv]:
    with reports_server(Path(tmp_path_factory.mktemp("reports_saved")), request.param) as e:
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
    assert out["filename"] == "tool-health.csv"  # the slug of its name
    header, *lines = list(csv.reader(io.StringIO(out["content"])))
    assert header == ["tool", "call_count", "error_count"]
    assert c.post(f"/saved/{rid}/export", json={"format": "json"}).json()["filename"] == \
        "tool-health.json"
    assert [{"tool": t, "call_count": float(n), "error_count": float(e)}
            for t, n, e in lines] == ran["rows"]
    assert c.post(f"/saved/{rid}/export").status_code == 400  # a body, as upstream requires
    assert c.post(f"/saved/{rid}/export", json={}).json()["format"] == "csv"
    assert c.post(f"/saved/{rid}/export", json={"format": "json"}).json()["format"] == "json"

    # PATCH: only present fields change; null clears description and dashboard, whose
    # keys are then absent (as upstream answers)
    r = c.patch(f"/saved/{rid}", json={"description": None, "dashboard": None})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert "description" not in patched and "dashboard" not in patched
    assert patched["name"] == "Tool health" and patched["query"] == saved["query"]
    assert patched["updated_at"] >= saved["updated_at"]
    new_query = {**QUERY, "measures": ["duration_ms"], "order_by": []}
    patched = c.patch(f"/saved/{rid}", json={"name": "Tool time", "query": new_query}).json()
    assert patched["name"] == "Tool time" and patched["query"]["measures"] == ["duration_ms"]
    assert [col["name"] for col in c.post(f"/saved/{rid}/run").json()["columns"]] == \
        ["tool", "duration_ms"]
    for bad in ({"name": None}, {"query": None}, {"name": ""},
                {"query": {**QUERY, "measures": ["nope"]}},
                {"dashboard": {"title": "t" * 201}}, {"dashboard": {"section": "s" * 101}},
                {"dashboard": {"chart_type": "c" * 65}}):
        r = c.patch(f"/saved/{rid}", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")

    # Delete.
    assert c.delete(f"/saved/{rid}").status_code == 204
    assert c.get(f"/saved/{rid}").status_code == 404
    assert c.delete(f"/saved/{rid}").status_code == 404
    assert [s["name"] for s in c.get("/saved").json()["data"]] == ["Spend"]


def test_duplicate_names_are_allowed_and_orgs_stay_apart(env: ReportsEnv) -> None:
    c = env.client
    body = {"name": "Daily sessions", "query": {
        "dataset": "sessions", "time_range": QUERY_RANGE, "dimensions": ["day"],
        "measures": ["session_count"]}}
    first = c.post("/saved", json=body).json()
    second = c.post("/saved", json=body)
    assert second.status_code == 201 and second.json()["id"] != first["id"]  # as upstream
    edge = c.post("/saved", json={**body, "name": "Edges", "dashboard": {
        "title": "t" * 200, "section": "s" * 100, "chart_type": "c" * 64}})
    assert edge.status_code == 201
    # newest update first, then by name
    c.patch(f"/saved/{first['id']}", json={"description": "touched"})
    names = [s["name"] for s in c.get("/saved").json()["data"]]
    assert names[0] == "Daily sessions" and names.count("Daily sessions") == 2
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


def test_managing_needs_its_own_scope(env: ReportsEnv) -> None:
    """Viewing and running need ``query``; creating, changing and deleting need
    ``reports:manage`` (``admin`` implies it)."""
    import httpx

    base = env.live.url + "/api/v1/reports"
    made = env.client.post("/saved", json={"name": "Scoped", "query": QUERY}).json()
    viewer = {"authorization": f"Bearer {env.live.token('acme', ('query',))}"}
    admin = {"authorization": f"Bearer {env.live.token('acme', ('admin',))}"}
    assert httpx.get(f"{base}/saved", headers=viewer).status_code == 200
    assert httpx.post(f"{base}/saved/{made['id']}/run", headers=viewer).status_code == 200
    for method, path, body in (("POST", "/saved", {"name": "x", "query": QUERY}),
                               ("PATCH", f"/saved/{made['id']}", {"name": "y"}),
                               ("DELETE", f"/saved/{made['id']}", None)):
        r = httpx.request(method, base + path, json=body, headers=viewer)
        assert r.status_code == 403, (method, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert httpx.patch(f"{base}/saved/{made['id']}", json={"name": "z"},
                       headers=admin).status_code == 200
    assert httpx.delete(f"{base}/saved/{made['id']}", headers=admin).status_code == 204
