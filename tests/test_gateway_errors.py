"""Gateway metrics errors over a live server: the whole request is checked and every
problem listed; 400/401/403/404/500 all answer the gateway's JSON envelope."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import make_store, serve
from telequery.meta import Meta
from test_gateway_common import ORG, URL, WINDOW, load_orgs

BASE = {**WINDOW, "datasource": "agentMetrics", "type": "timeseries"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    path: Path = tmp_path_factory.mktemp("gwerr")
    store = make_store("duckdb", path)
    load_orgs(store)
    meta = Meta(path / "meta.sqlite")
    try:
        with serve(store, meta) as srv:
            yield srv.url, srv.token(ORG, ("query",)), srv.token(ORG, ("ingest",))
    finally:
        meta.close()
        store.close()


def _post(live: tuple[str, str, str], body: object, token: str | None = None,
          **kw: object) -> httpx.Response:
    url, query_token, _ = live
    headers = {"Authorization": f"Bearer {token or query_token}"}
    if kw.get("raw") is not None:
        return httpx.post(url + URL, content=kw["raw"], headers={  # type: ignore[arg-type]
            **headers, "Content-Type": "application/json"})
    return httpx.post(url + URL, json=body, headers=headers)


def _details(r: httpx.Response, status: int = 400) -> list[str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"statusCode", "message", "details"}
    assert body["statusCode"] == status
    if status == 400:
        assert body["message"] == "Invalid query"
    return body["details"]


@pytest.mark.parametrize("interval,fragment", [
    ("0 minute", "positive"),
    ("-5 minutes", "positive"),
    ("1 hour 5 minute", "compound"),
    ("5 fortnight", 'unknown unit "fortnight"'),
    ("hour", "<n> <unit>"),
    ("1.5 hour", "<n> <unit>"),
    ("", "<n> <unit>"),
    (60, "string"),
])
def test_bad_intervals(live: tuple[str, str, str], interval: object, fragment: str) -> None:
    details = _details(_post(live, {**BASE, "interval": interval}))
    assert len(details) == 1 and fragment in details[0], details


def test_interval_required_and_bucket_limit(live: tuple[str, str, str]) -> None:
    assert "required" in _details(_post(live, BASE))[0]
    for bad in (0, -60, 1.5, "60", True):
        details = _details(_post(live, {**BASE, "intervalInSeconds": bad}))
        assert "intervalInSeconds" in details[0]
    details = _details(_post(live, {**BASE, "interval": "1 second"}))
    assert "buckets" in details[0]
    # A distribution ignores the interval entirely.
    ok = _post(live, {**BASE, "type": "distribution"})
    assert ok.status_code == 200 and "startTimestamp" not in ok.json()["data"]["dataPoints"][0]


def test_every_problem_is_listed(live: tuple[str, str, str]) -> None:
    body = {"startTs": "yesterday", "datasource": "agentMetrics", "type": "timeseries",
            "interval": "5 fortnight",
            "aggregations": [{"type": "median", "column": "latencyMs"},
                             {"type": "sum", "column": "agentName"},
                             {"type": "count", "column": "nope"},
                             {"type": "count", "column": "team"}],
            "groupBy": ["agentName", "colour"],
            "filters": [{"fieldName": "agentName", "operator": "IS_NULL", "value": True},
                        {"fieldName": "agentName", "operator": "EQUAL", "value": "x"},
                        {"fieldName": "httpStatusCode", "operator": "IN", "value": 200},
                        {"fieldName": "latencyMs", "operator": "BETWEEN", "value": [1]},
                        {"fieldName": "isFailure", "operator": "EQUAL", "value": "true"},
                        {"fieldName": "team", "operator": "ARRAY_HAS_ANY", "value": "a"},
                        {"fieldName": "userEmail", "operator": "LIKE", "value": "a"},
                        {"fieldName": "shoeSize", "operator": "EQUAL", "value": 1},
                        {"fieldName": "a", "metadataKey": "b", "operator": "EQUAL"},
                        {"metadataKey": "k", "operator": "EQUAL", "value": 5}]}
    details = _details(_post(live, body))
    expected = [
        '"startTs" is not an ISO-8601 timestamp',
        '"endTs" is required',
        'unknown unit "fortnight"',
        "unknown aggregation type 'median'",
        'Aggregation "sum" needs a numeric column; "agentName" is a string',
        'Unknown aggregation column "nope"',
        'Column "team" is an array',
        'Unknown groupBy column "colour"',
        'Field "agentName" does not support operator "IS_NULL"',
        'Field "agentName" does not support operator "EQUAL"',
        'Filter on "httpStatusCode" with operator "IN" needs a non-empty array',
        'Filter on "latencyMs" with operator "BETWEEN" needs [low, high]',
        'Filter on "isFailure" with operator "EQUAL" needs a boolean',
        'Filter on "team" with operator "ARRAY_HAS_ANY" needs a non-empty array',
        "unknown operator 'LIKE'",
        'Unknown field "shoeSize"',
        'needs exactly one of "fieldName" or "metadataKey"',
        'Filter on "k" with operator "EQUAL" needs a string',
    ]
    assert len(details) == len(expected), details
    for want in expected:
        assert any(want in d for d in details), (want, details)


def test_shape_problems(live: tuple[str, str, str]) -> None:
    dist = {**WINDOW, "datasource": "modelMetrics", "type": "distribution"}
    cases = [
        ({"fieldName": "timeToFirstTokenMs", "operator": "IN", "value": ["100"]},
         "wrong type"),
        ({"fieldName": "timeToFirstTokenMs", "operator": "IS_NULL", "value": "yes"},
         "true or false"),
        # upstream: token and cost columns take ranges only
        ({"fieldName": "inputTokens", "operator": "IN", "value": [100]},
         'does not support operator "IN"'),
        ({"fieldName": "inputTokens", "operator": "BETWEEN", "value": [1, 2, 3]}, "[low, high]"),
        ({"fieldName": "modelName", "operator": "IN", "value": []}, "non-empty array"),
        ({"fieldName": "modelName", "operator": "STRING_CONTAINS", "value": ["a"]}, "string"),
        ({"fieldName": "inputTokens", "operator": "GREATER_THAN", "value": "10"}, "number"),
        ({"fieldName": "team", "operator": "ARRAY_HAS_NONE", "value": [1]}, "wrong type"),
    ]
    for f, fragment in cases:
        details = _details(_post(live, {**dist, "filters": [f]}))
        assert len(details) == 1 and fragment in details[0], (f, details)


def test_request_level_problems(live: tuple[str, str, str]) -> None:
    for body, fragment in (
        ({**BASE, "datasource": "routingMetrics", "interval": "1 hour"}, "not supported"),
        ({**BASE, "datasource": "bogus", "interval": "1 hour"}, "Unknown datasource"),
        ({**BASE, "type": "table"}, '"type" must be'),
        ({**BASE, "type": "distribution", "endTs": WINDOW["startTs"]}, "after"),
        ({**BASE, "type": "distribution", "filters": {"a": 1}}, "must be an array"),
        ({**BASE, "type": "distribution", "groupBy": "agentName"}, "must be an array"),
        ([1, 2], "JSON object"),
    ):
        details = _details(_post(live, body))
        assert any(fragment in d for d in details), (body, details)
    details = _details(_post(live, None, raw=b"{not json"))
    assert details


def test_auth_and_unknown_routes(live: tuple[str, str, str]) -> None:
    url, _, ingest_only = live
    body = {**BASE, "interval": "1 hour"}
    assert _details(httpx.post(url + URL, json=body), 401)
    assert _details(httpx.post(url + URL, json=body,
                               headers={"Authorization": "Bearer nope"}), 401)
    assert _details(_post(live, body, token=ingest_only), 403)
    assert _details(httpx.get(url + "/api/svc/v1/llm-gateway/nothing-here"), 404)
    assert _details(httpx.get(url + URL), 405)


def test_unexpected_failure_is_a_json_500(tmp_path: Path) -> None:
    """A store that fails under the query (closed underneath) answers the envelope."""
    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    try:
        with serve(store, meta) as srv:
            token = srv.token(ORG, ("query",))
            store.close()
            r = httpx.post(srv.url + URL, json={**BASE, "interval": "1 hour"},
                           headers={"Authorization": f"Bearer {token}"})
            details = _details(r, 500)
            assert r.json()["message"] == "Internal server error" and details
            assert "Traceback" not in r.text
            # the connection stays usable: two requests on one socket, both answered
            port = int(srv.url.rsplit(":", 1)[1])
            body = json.dumps({**BASE, "interval": "1 hour"}).encode()
            request = (f"POST {URL} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}"
                       f"\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
                       "\r\n\r\n").encode() + body
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                answers = b""
                for _ in range(2):
                    sock.sendall(request)
                    time.sleep(0.3)
                    answers += sock.recv(65536)
            assert answers.count(b"HTTP/1.1 500 ") == 2, answers[:500]
    finally:
        meta.close()
