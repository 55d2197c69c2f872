"""Every Reports validation rule answers an RFC 9457 problem (400) naming the field.

Also auth (401/403), unknown routes and saved reports (404), overload (503 with
retry-later), all as ``application/problem+json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reports_data import QUERY_RANGE, ReportsEnv, reports_server
from telequery.api.reports import routes


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportsEnv]:
    with reports_server(Path(tmp_path_factory.mktemp("reports_validation"))) as e:
        yield e


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["code"]
    assert "Traceback" not in r.text
    return body


BASE = {"dataset": "llm_generations", "time_range": QUERY_RANGE, "measures": ["input_tokens"]}
TOO_LONG = {"from": "2024-01-01T00:00:00Z", "to": "2025-01-06T00:00:01Z"}
DIMS = ["session", "user", "principal", "agent", "agent_name", "harness", "harness_name",
        "app", "blueprint"]
MEASURES = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
            "total_tokens", "duration_ms", "avg_duration_ms", "time_to_first_token_ms",
            "avg_time_to_first_token_ms", "success_count", "error_count"]

# (change to BASE, field the detail must name, code)
CASES = [
    ({"dataset": "nope"}, "dataset", "unknown_dataset"),
    ({"dataset": None}, "dataset", None),
    ({"time_range": None}, "time_range", None),
    ({"time_range": {"from": "2025-01-02T00:00:00Z"}}, "time_range.to", None),
    ({"time_range": {"from": "yesterday", "to": "2025-01-02T00:00:00Z"}}, "time_range.from",
     None),
    ({"time_range": {"from": "2025-01-01T00:00:00", "to": "2025-01-02T00:00:00Z"}},
     "time_range.from", None),  # RFC 3339 needs an offset
    ({"time_range": {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}},
     "time_range", None),
    ({"time_range": {"from": "2025-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}},
     "time_range", None),
    ({"time_range": TOO_LONG}, "time_range", "limit_exceeded"),
    ({"dimensions": DIMS}, "dimensions", None),  # 9 > 8
    ({"dimensions": ["model", "tool"]}, "dimensions.1", "unknown_dimension"),
    ({"dimensions": ["model", "provider", "model"]}, "dimensions.2", None),
    ({"dimensions": ["input_tokens"]}, "dimensions.0", "unknown_dimension"),
    ({"measures": []}, "measures", None),
    ({"measures": MEASURES * 2}, "measures", None),  # 22 > 16
    ({"measures": ["input_tokens", "call_count"]}, "measures.1", "unknown_measure"),
    ({"measures": ["model"]}, "measures.0", "unknown_measure"),
    ({"measures": ["input_tokens", "input_tokens"]}, "measures.1", None),
    ({"measures": "input_tokens"}, "measures", None),
    ({"filters": [{"field": "model", "op": "eq", "value": "x"}] * 21}, "filters", None),
    ({"filters": [{"field": "tool", "op": "eq", "value": "x"}]}, "filters.0.field",
     "unknown_filter_field"),
    ({"filters": [{"field": "input_tokens", "op": "gt", "value": 1}]}, "filters.0.field",
     "unknown_filter_field"),
    ({"filters": [{"field": "model", "op": "like", "value": "x"}]}, "filters.0.op", None),
    ({"filters": [{"field": "model", "op": "contains", "value": "x"}]}, "filters.0.op", None),
    ({"filters": [{"field": "model", "op": "in", "value": "gpt"}]}, "filters.0.value", None),
    ({"filters": [{"field": "model", "op": "in", "value": []}]}, "filters.0.value", None),
    ({"filters": [{"field": "model", "op": "in", "value": [["a"]]}]}, "filters.0.value",
     None),
    ({"filters": [{"field": "model", "op": "eq", "value": ["gpt"]}]}, "filters.0.value",
     None),
    ({"filters": [{"field": "model", "op": "gt", "value": None}]}, "filters.0.value", None),
    ({"filters": [{"field": "model", "op": "lte", "value": {"a": 1}}]}, "filters.0.value",
     None),
    ({"filters": [{"op": "eq", "value": "x"}]}, "filters.0.field", None),
    ({"order_by": [{"direction": "asc"}]}, "order_by.0", None),
    ({"order_by": [{"dimension": "model", "measure": "input_tokens"}]}, "order_by.0", None),
    ({"order_by": [{"measure": "input_tokens", "direction": "up"}]}, "order_by.0.direction",
     None),
    ({"order_by": [{"dimension": "model"}]}, "order_by.0.dimension", None),  # not selected
    ({"order_by": [{"measure": "output_tokens"}]}, "order_by.0.measure", None),
    ({"limit": 0}, "limit", None),
    ({"limit": 1001}, "limit", None),
    ({"limit": "many"}, "limit", None),
]


@pytest.mark.parametrize(("change", "field", "code"), CASES,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_invalid_query_is_a_problem_naming_the_field(env: ReportsEnv, change: dict,
                                                     field: str, code: str | None) -> None:
    body = {**BASE, **change}
    body = {k: v for k, v in body.items() if v is not None}
    p = problem(env.client.post("/query", json=body), 400)
    assert p["detail"].startswith(field + ":") or f"; {field}:" in p["detail"], p
    assert any(e["field"] == field for e in p["errors"]), p
    if code:
        assert p["code"] == code
    # The same rule holds for exports and saved reports, under "query.".
    p = problem(env.client.post("/query/export", json={"query": body}), 400)
    assert any(e["field"] == "query." + field for e in p["errors"]), p
    p = problem(env.client.post("/saved", json={"name": "bad", "query": body}), 400)
    assert any(e["field"] == "query." + field for e in p["errors"]), p


def test_limits_at_the_edges_are_accepted(env: ReportsEnv) -> None:
    ok = {**BASE, "dimensions": DIMS[:8], "measures": MEASURES, "limit": 1000,
          "filters": [{"field": "model", "op": "neq", "value": "x"}] * 20,
          "time_range": {"from": "2024-01-01T00:00:00Z", "to": "2025-01-05T00:00:00Z"}}
    assert env.client.post("/query", json=ok).status_code == 200
    assert env.client.post("/query", json={**BASE, "limit": 1}).status_code == 200


def test_malformed_json_and_bad_export_format(env: ReportsEnv) -> None:
    p = problem(env.client.post("/query", content=b"{not json",
                                headers={"content-type": "application/json"}), 400)
    assert p["detail"]
    p = problem(env.client.post("/query/export", json={"query": BASE, "format": "xlsx"}), 400)
    assert p["errors"][0]["field"] == "format"


def test_auth(env: ReportsEnv) -> None:
    url = env.live.url + "/api/v1/reports"
    p = problem(httpx.get(url + "/catalog"), 401)
    assert p["code"] == "unauthorized"
    p = problem(httpx.post(url + "/query", json=BASE,
                           headers={"Authorization": "Bearer tq_wrong"}), 401)
    ingest_only = env.live.token("acme", ("ingest",))
    p = problem(httpx.post(url + "/query", json=BASE,
                           headers={"Authorization": f"Bearer {ingest_only}"}), 403)
    assert p["code"] == "forbidden"


def test_not_found(env: ReportsEnv) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (("GET", f"/saved/{missing}"), ("PATCH", f"/saved/{missing}"),
                         ("DELETE", f"/saved/{missing}"), ("POST", f"/saved/{missing}/run"),
                         ("POST", f"/saved/{missing}/export"), ("GET", "/nowhere")):
        kwargs = {"json": {"description": "x"}} if method == "PATCH" else \
            {"json": {}} if path.endswith("/export") else {}  # a body, as upstream requires
        p = problem(env.client.request(method, path, **kwargs), 404)
        assert p["code"] == "not_found"


def test_overload_says_retry_later(env: ReportsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "MAX_CONCURRENT_QUERIES", 0)
    r = env.client.post("/query", json=BASE)
    p = problem(r, 503)
    assert p["code"] == "overloaded" and p["retry_after_seconds"] >= 1
    assert r.headers["retry-after"] == str(p["retry_after_seconds"])
    assert [a["rel"] for a in p["allowed_actions"]] == ["retry-later"]


def test_every_problem_of_a_query_is_listed(env: ReportsEnv) -> None:
    """One pass: the Reports API's own checks and the binder's, each at its request path,
    all in one RFC 9457 answer (``errors``), in request order."""
    body = {**BASE, "dimensions": ["model", "colour"],
            "measures": ["input_tokens", "input_tokens"],
            "filters": [{"field": "model", "op": "eq", "value": "gpt-4o"},
                        {"field": "model", "op": "in", "value": []},
                        {"field": "shoe", "op": "eq", "value": "x"}],
            "order_by": [{"measure": "output_tokens"}]}
    p = problem(env.client.post("/query", json=body), 400)
    assert [e["field"] for e in p["errors"]] == [
        "dimensions.1", "measures.1", "filters.1.value", "filters.2.field",
        "order_by.0.measure"], p
    big = {**BASE, "filters": [{"field": "model", "op": "in",
                                "value": [f"m{i}" for i in range(1001)]}]}
    p = problem(env.client.post("/query", json=big), 400)
    assert p["errors"][0]["field"] == "filters" and "at most 1000" in p["detail"], p
