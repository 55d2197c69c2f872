"""``POST /v1/events`` (NDJSON) on a live server, and ``ingest_file`` for NDJSON and
OTLP/JSON files: rows come from the OTLP log mapping, bad lines are named by number."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from conftest import LiveServer, make_store, serve
from telequery.ingest.files import ingest_file
from telequery.ingest.mapping import logs_to_rows
from telequery.ingest.ndjson import epoch_ns, parse_lines
from telequery.meta import Meta

TS = "2025-03-04T05:06:07.123456Z"
TS_US = (int(datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()) * 1_000_000) + 123456
LINES = [
    {"timestamp": TS, "message": "user 42 logged in", "level": "warning", "service": "auth",
     "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
     "user": {"id": "u42", "plan": "pro"}, "latency_ms": 12.5, "retries": 2, "ok": True,
     "tags": ["a", "b"]},
    "not json at all",
    {"timestamp": "yesterday", "message": "bad time"},
    [1, 2, 3],
    {"timestamp": 1741064767, "msg": "epoch seconds", "service": "auth", "dataset": "audit"},
    {"message": "bad trace", "trace_id": "xyz"},
    {"timestamp": 1741064767123, "message": "failed hard", "level": "error",
     "service": "billing"},
]


def ndjson(lines: list) -> bytes:
    return b"\n".join(x.encode() if isinstance(x, str) else orjson.dumps(x) for x in lines)


def stored(store, org: str) -> list[dict]:  # type: ignore[no-untyped-def]
    result = store.execute("SELECT * FROM events WHERE org_id = $org ORDER BY timestamp",
                           {"org": org})
    return [dict(zip(result.columns, r, strict=True)) for r in result.rows]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    path: Path = tmp_path_factory.mktemp("ndjson")
    store, meta = make_store("duckdb", path), Meta(path / "meta.sqlite")
    with serve(store, meta) as live:
        yield live
    meta.close()
    store.close()


def test_events_endpoint_keeps_valid_lines_and_names_bad_ones(srv: LiveServer) -> None:
    token = srv.token("nd", ("ingest",))
    r = httpx.post(srv.url + "/v1/events", content=gzip.compress(ndjson(LINES)),
                   headers={"authorization": f"Bearer {token}", "content-encoding": "gzip",
                            "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["written"] == 3 and body["rejected"] == 4
    assert [x["line"] for x in body["lines"]] == [2, 3, 4, 6]
    assert "timestamp" in body["lines"][1]["error"] and "trace_id" in body["lines"][3]["error"]
    rows = stored(srv.store, "nd")
    assert [r["message"] for r in rows] == ["epoch seconds", "failed hard",
                                            "user 42 logged in"]
    first = rows[2]
    assert first["kind"] == "log" and first["level"] == "warn" and first["service"] == "auth"
    assert first["timestamp"] == datetime(2025, 3, 4, 5, 6, 7, 123456)
    assert first["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert first["span_id"] == "eee19b7ec3c1b174"
    assert dict(first["attrs_string"]) == {"user.id": "u42", "user.plan": "pro",
                                           "tags": '["a","b"]'}
    assert dict(first["attrs_number"]) == {"latency_ms": 12.5, "retries": 2.0}
    assert dict(first["attrs_bool"]) == {"ok": True}
    assert first["user_id"] == "u42"
    assert first["message_template"] is not None
    assert rows[0]["dataset"] == "audit"
    assert rows[1]["error"] == "failed hard" and rows[1]["service"] == "billing"
    assert rows[1]["timestamp"] == datetime(2025, 3, 4, 5, 6, 7, 123000)


def test_events_endpoint_errors(srv: LiveServer) -> None:
    token = srv.token("nd-err", ("ingest",))
    auth = {"authorization": f"Bearer {token}"}
    r = httpx.post(srv.url + "/v1/events", content=b"nope\n[1]\n", headers=auth)
    assert r.status_code == 400
    assert r.json()["error"].startswith("no valid line")
    assert [x["line"] for x in r.json()["lines"]] == [1, 2]
    r = httpx.post(srv.url + "/v1/events", content=b'{"message": "x"}')
    assert r.status_code == 401 and "Unauthorized" in r.json()["error"]
    r = httpx.post(srv.url + "/v1/events", content=b'{"message": "x"}',
                   headers={**auth, "content-type": "application/xml"})
    assert r.status_code == 415 and r.json()["lines"] == []
    r = httpx.get(srv.url + "/v1/events")
    assert r.status_code == 405 and set(r.json()) == {"error", "lines"}
    assert stored(srv.store, "nd-err") == []


def test_ndjson_rows_equal_the_otlp_log_mapping() -> None:
    parsed = parse_lines(ndjson(LINES), now_ns=1)
    assert parsed.accepted == 3 and parsed.rejected == 4
    batch = logs_to_rows(parsed.request, "o")
    assert batch.rows == 3 and batch.rejected == 0
    assert epoch_ns("2025-03-04T05:06:07.123456+00:00") == TS_US * 1000
    assert epoch_ns(1741064767.5) == 1_741_064_767_500_000_000
    assert epoch_ns(1741064767123456) == 1_741_064_767_123_456_000
    assert epoch_ns("1741064767") == 1_741_064_767_000_000_000


def test_ingest_file_ndjson_and_otlp_json(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    events = tmp_path / "events.ndjson.gz"
    events.write_bytes(gzip.compress(ndjson(LINES)))
    assert ingest_file(store, "f", events) == (3, 4)
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "GET /", "startTimeUnixNano": "1741064767000000000",
            "endTimeUnixNano": "1741064767500000000"}
    traces = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": [span, {**span, "spanId": "00"}]}]}]}
    logs = {"resource_logs": [{"scope_logs": [{"log_records": [
        {"time_unix_nano": "1741064767000000000", "body": {"string_value": "hi"}}]}]}]}
    otlp = tmp_path / "otlp.jsonl"
    otlp.write_bytes(b"\n".join([orjson.dumps(traces), b"", orjson.dumps(logs), b"{broken"]))
    assert ingest_file(store, "f", otlp) == (2, 2)  # a bad span and a bad line
    rows = stored(store, "f")
    assert len(rows) == 5
    spans = [r for r in rows if r["kind"] == "span"]
    assert [(r["service"], r["duration_ms"], r["span_id"]) for r in spans] == \
        [("web", 500.0, "eee19b7ec3c1b174")]
    store.close()
