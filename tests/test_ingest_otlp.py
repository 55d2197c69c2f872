"""OTLP/HTTP ingest against a live uvicorn: the stock OTel SDK exporters, OTLP/JSON over
plain HTTP, and the spec's error and partial-success answers. Ingested rows are read back
with the query engine (IR) and checked against what was sent."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import ENGINES, LiveServer, make_store, serve
from otlp_build import Span, traces_request
from telequery.meta import Meta
from telequery.query import engine
from telequery.query.ir import Agg, Condition, Dimension, Measure, Op, Query, TimeRange, ValueType

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
T0_NS = int(T0.timestamp()) * 1_000_000_000
WINDOW = TimeRange(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
PB = {"content-type": "application/x-protobuf"}


@pytest.fixture(scope="module", params=ENGINES)
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[LiveServer]:
    """The live server over each engine: ingest must land the same rows in both."""
    path: Path = tmp_path_factory.mktemp("otlp")
    store, meta = make_store(request.param, path), Meta(path / "meta.sqlite")
    with serve(store, meta) as live:
        yield live
    meta.close()
    store.close()


def rows(srv: LiveServer, org: str, service: str, *fields: str) -> list[dict]:
    q = Query("events", WINDOW, filter=Condition("$metadata.service", Op.EQ, service),
              select=fields, limit=1000)
    result = engine.run(srv.store, q, org)
    return [dict(zip(result.columns, r, strict=True)) for r in result.rows]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sdk_exporters_spans_and_logs(srv: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    token = srv.token("sdk-org", ("ingest",))
    resource = Resource.create({"service.name": "planner-agent", "cloud.region": "eu-west"})
    exporter = OTLPSpanExporter(endpoint=srv.url + "/v1/traces", compression=Compression.Gzip,
                                headers={"Authorization": f"Bearer {token}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    durations = {"invoke_agent planner": 1500.0, "chat gpt-4o": 820.5, "execute_tool search": 42.25}
    root = tracer.start_span("invoke_agent planner", kind=SpanKind.INTERNAL, start_time=T0_NS,
                             attributes={"gen_ai.operation.name": "invoke_agent",
                                         "gen_ai.agent.name": "planner",
                                         "gen_ai.conversation.id": "conv-1"})
    from opentelemetry import trace

    ctx = trace.set_span_in_context(root)
    chat = tracer.start_span("chat gpt-4o", context=ctx, kind=SpanKind.CLIENT,
                             start_time=T0_NS + 10_000_000,
                             attributes={"gen_ai.operation.name": "chat",
                                         "gen_ai.request.model": "gpt-4o",
                                         "gen_ai.provider.name": "openai",
                                         "gen_ai.usage.input_tokens": 1200,
                                         "gen_ai.usage.output_tokens": 345,
                                         "gen_ai.usage.cost": 0.0125,
                                         "gen_ai.conversation.id": "conv-1",
                                         "tags": ["a", "b"], "cached": False})
    chat.end(end_time=T0_NS + 10_000_000 + int(820.5 * 1e6))
    tool = tracer.start_span("execute_tool search", context=ctx, start_time=T0_NS + 900_000_000,
                             attributes={"gen_ai.operation.name": "execute_tool",
                                         "gen_ai.tool.name": "search"})
    tool.set_status(Status(StatusCode.ERROR, "search backend timed out after 30 s"))
    tool.end(end_time=T0_NS + 900_000_000 + 42_250_000)
    root.end(end_time=T0_NS + 1_500_000_000)
    assert provider.force_flush()
    provider.shutdown()

    # Logs: the token travels through OTEL_EXPORTER_OTLP_HEADERS, as deployments set it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{token}")
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=srv.url + "/v1/logs")))
    logger = logging.getLogger("telequery.test.sdk")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=log_provider)
    logger.addHandler(handler)
    try:
        with trace.use_span(root):
            logger.warning("tool %s failed for user %s", "search", "u-7",
                           extra={"user.id": "u-7", "attempt": 3})
        logger.info("plan ready")
    finally:
        logger.removeHandler(handler)
        log_provider.force_flush()
        log_provider.shutdown()

    spans = rows(srv, "sdk-org", "planner-agent", "$metadata.type", "$metadata.spanName",
                 "$metadata.duration", "$metadata.model", "$metadata.provider",
                 "$metadata.inputTokens", "$metadata.outputTokens", "$metadata.cost",
                 "$metadata.operation", "$metadata.toolName", "$metadata.status",
                 "$metadata.error", "$metadata.traceId", "$metadata.parentSpanId",
                 "$metadata.region", "$metadata.agentName", "$metadata.conversationId",
                 "$metadata.spanKind")
    by_name = {r["$metadata.spanName"]: r for r in spans if r["$metadata.type"] == "span"}
    assert set(by_name) == set(durations)
    for name, ms in durations.items():
        assert by_name[name]["$metadata.duration"] == pytest.approx(ms)
    chat_row = by_name["chat gpt-4o"]
    assert (chat_row["$metadata.model"], chat_row["$metadata.provider"],
            chat_row["$metadata.inputTokens"], chat_row["$metadata.outputTokens"],
            chat_row["$metadata.operation"], chat_row["$metadata.conversationId"],
            chat_row["$metadata.spanKind"], chat_row["$metadata.region"]) == \
        ("gpt-4o", "openai", 1200, 345, "chat", "conv-1", "client", "eu-west")
    assert chat_row["$metadata.cost"] == pytest.approx(0.0125)
    tool_row = by_name["execute_tool search"]
    assert tool_row["$metadata.status"] == "error"
    assert tool_row["$metadata.error"] == "search backend timed out after 30 s"
    assert tool_row["$metadata.toolName"] == "search"
    assert by_name["invoke_agent planner"]["$metadata.agentName"] == "planner"
    trace_ids = {r["$metadata.traceId"] for r in by_name.values()}
    assert trace_ids == {format(root.get_span_context().trace_id, "032x")}
    assert by_name["chat gpt-4o"]["$metadata.parentSpanId"] == \
        format(root.get_span_context().span_id, "016x")

    logs = [r for r in rows(srv, "sdk-org", "planner-agent", "$metadata.type",
                            "$metadata.message", "$metadata.level", "$metadata.traceId")
            if r["$metadata.type"] == "log"]
    by_msg = {r["$metadata.message"]: r for r in logs}
    assert set(by_msg) == {"tool search failed for user u-7", "plan ready"}
    assert by_msg["tool search failed for user u-7"]["$metadata.level"] == "warn"
    assert by_msg["tool search failed for user u-7"]["$metadata.traceId"] == \
        format(root.get_span_context().trace_id, "032x")
    assert by_msg["plan ready"]["$metadata.level"] == "info"

    # Typed attributes: a number stays a number, a string a string.
    q = Query("events", WINDOW, filter=Condition("attempt", Op.EQ, 3, ValueType.NUMBER),
              measures=(Measure(Agg.COUNT),))
    assert engine.run(srv.store, q, "sdk-org").rows == [(1.0,)]
    q = Query("events", WINDOW, measures=(Measure(Agg.SUM, "$metadata.inputTokens"),),
              group_by=(Dimension("$metadata.model"),),
              filter=Condition("$metadata.operation", Op.EQ, "chat"))
    assert engine.run(srv.store, q, "sdk-org").rows == [("gpt-4o", 1200.0)]
    # another org sees none of it
    assert rows(srv, "someone-else", "planner-agent", "$metadata.id") == []


def _json_traces(trace_hex: str, service: str) -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "js"}, "spans": [
            {"traceId": trace_hex, "spanId": "eee19b7ec3c1b174", "parentSpanId": "",
             "name": "chat claude", "kind": 3,
             "startTimeUnixNano": str(T0_NS), "endTimeUnixNano": str(T0_NS + 250_000_000),
             "attributes": [
                 {"key": "gen_ai.request.model", "value": {"stringValue": "claude-3"}},
                 {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "77"}},
                 {"key": "gen_ai.usage.cost", "value": {"doubleValue": 0.5}},
                 {"key": "stream", "value": {"boolValue": True}}],
             "status": {"code": 1}, "unknownField": 1},
            {"traceId": "not-hex", "spanId": "eee19b7ec3c1b174", "name": "broken",
             "startTimeUnixNano": str(T0_NS), "endTimeUnixNano": str(T0_NS + 1)},
        ]}]}]}


def test_otlp_json_plain_http(srv: LiveServer) -> None:
    token = srv.token("json-org", ("ingest",))
    trace_hex = "5b8efff798038103d269b633813fc60c"
    body = orjson.dumps(_json_traces(trace_hex, "js-agent"))
    r = httpx.post(srv.url + "/v1/traces", content=gzip.compress(body),
                   headers={"authorization": f"Bearer {token}", "content-encoding": "gzip",
                            "content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    ps = r.json()["partialSuccess"]
    assert int(ps["rejectedSpans"]) == 1 and "trace_id must be 16 bytes" in ps["errorMessage"]
    (row,) = rows(srv, "json-org", "js-agent", "$metadata.traceId", "$metadata.spanId",
                  "$metadata.duration", "$metadata.model", "$metadata.inputTokens",
                  "$metadata.cost", "stream", "$metadata.status")
    assert row == {"$metadata.traceId": trace_hex, "$metadata.spanId": "eee19b7ec3c1b174",
                   "$metadata.duration": 250.0, "$metadata.model": "claude-3",
                   "$metadata.inputTokens": 77, "$metadata.cost": 0.5, "stream": None,
                   "$metadata.status": "ok"}
    q = Query("events", WINDOW, filter=Condition("stream", Op.EQ, True, ValueType.BOOLEAN),
              measures=(Measure(Agg.COUNT),))
    assert engine.run(srv.store, q, "json-org").rows == [(1.0,)]

    logs = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "js-logs"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(T0_NS), "severityNumber": 17, "body": {"stringValue": "boom"},
             "traceId": trace_hex, "spanId": "eee19b7ec3c1b174"}]}]}]}
    r = httpx.post(srv.url + "/v1/logs", json=logs, headers={"authorization": token})
    assert r.status_code == 200 and r.json() == {}
    (row,) = rows(srv, "json-org", "js-logs", "$metadata.level", "$metadata.message",
                  "$metadata.traceId", "$metadata.error")
    assert row == {"$metadata.level": "error", "$metadata.message": "boom",
                   "$metadata.traceId": trace_hex, "$metadata.error": "boom"}


def _status(r: httpx.Response) -> tuple[int, str]:
    """(google.rpc code, message) from a protobuf or JSON Status body."""
    if r.headers["content-type"] == "application/json":
        body = r.json()
        return body["code"], body["message"]
    from google.rpc.status_pb2 import Status as RpcStatus  # the exporter's dependency

    st = RpcStatus.FromString(r.content)
    return st.code, st.message


def _span_request(n: int, service: str = "limits", **attrs: object) -> ExportTraceServiceRequest:
    return traces_request(Span(service, f"op {i}", T0_NS + i, 1000, i.to_bytes(16, "big"),
                               (i + 1).to_bytes(8, "big"), attrs=dict(attrs))
                          for i in range(1, n + 1))


@pytest.mark.parametrize("case", ["bad_protobuf", "bad_json", "not_object", "content_type",
                                  "no_auth", "bad_token", "no_scope", "bad_gzip", "encoding"])
def test_malformed_requests_get_4xx_status(srv: LiveServer, case: str) -> None:
    token = srv.token("err-org", ("ingest",))
    query_only = srv.token("err-org", ("query",))
    auth = {"authorization": f"Bearer {token}"}
    good = _span_request(1).SerializeToString()
    send = {
        "bad_protobuf": (b"\xff\xff\xff", {**PB, **auth}, 400, "not a valid protobuf"),
        "bad_json": (b"{nope", {"content-type": "application/json", **auth}, 400,
                     "invalid JSON"),
        "not_object": (b"[1]", {"content-type": "application/json", **auth}, 400,
                       "JSON object"),
        "content_type": (good, {"content-type": "text/xml", **auth}, 415, "Content-Type"),
        "no_auth": (good, PB, 401, "Unauthorized"),
        "bad_token": (good, {**PB, "authorization": "Bearer tq_nope"}, 401, "Unauthorized"),
        "no_scope": (good, {**PB, "authorization": f"Bearer {query_only}"}, 403, "ingest"),
        "bad_gzip": (b"not gzip", {**PB, **auth, "content-encoding": "gzip"}, 400, "gzip"),
        "encoding": (good, {**PB, **auth, "content-encoding": "br"}, 415, "br"),
    }
    body, headers, status, reason = send[case]
    r = httpx.post(srv.url + "/v1/traces", content=body, headers=headers)
    assert r.status_code == status
    code, message = _status(r)
    assert reason in message and code != 0
    if headers.get("content-type") in ("application/json", "text/xml"):
        assert r.headers["content-type"] == "application/json"
    else:
        assert r.headers["content-type"] == "application/x-protobuf"


def test_partial_success_and_truncation_in_protobuf(srv: LiveServer) -> None:
    token = srv.token("ps-org", ("ingest",))
    req = _span_request(3, "partial", note="x" * 20_000)
    req.resource_spans[1].scope_spans[0].spans[0].trace_id = b"short"
    r = httpx.post(srv.url + "/v1/traces", content=req.SerializeToString(),
                   headers={**PB, "authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "truncated" in resp.partial_success.error_message
    stored = rows(srv, "ps-org", "partial", "note")
    assert len(stored) == 2
    assert all(r["note"].endswith("…[truncated]") and len(r["note"]) < 16_500 for r in stored)


def test_limits_body_items_and_overload(tmp_path: Path) -> None:
    from telequery.api.app import create_app
    from telequery.api.ingest import IngestLimits

    store, meta = make_store("duckdb", tmp_path), Meta(tmp_path / "meta.sqlite")
    app = create_app(store, meta)
    app.state.ingest_limits = IngestLimits(max_body_bytes=20_000, max_decoded_bytes=50_000,
                                           max_items=5)
    token = meta.create_token("lim", ["ingest"])
    headers = {**PB, "authorization": f"Bearer {token}"}
    writer = app.state.services.writer

    async def scenario() -> None:  # in-process ASGI: the transport does not matter here
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t", headers=headers) as client:
            r = await client.post("/v1/traces", content=b"\0" * 30_000)
            assert r.status_code == 413 and "20000 bytes" in _status(r)[1]
            bomb = gzip.compress(b"\0" * 200_000)
            r = await client.post("/v1/traces", content=bomb,
                                  headers={"content-encoding": "gzip"})
            assert r.status_code == 413 and "decompressed" in _status(r)[1]
            r = await client.post("/v1/traces", content=_span_request(6).SerializeToString())
            assert r.status_code == 413 and "limit is 5" in _status(r)[1]
            r = await client.post("/v1/logs", content=b"")
            assert r.status_code == 200
            assert ExportLogsServiceResponse.FromString(r.content) == \
                ExportLogsServiceResponse()
            # a full writer: 429 with Retry-After, nothing written, never a silent drop
            writer.max_pending_rows = 0
            writer._pending_rows = 1  # as if a commit were in flight
            r = await client.post("/v1/traces", content=_span_request(2).SerializeToString())
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert "queue is full" in _status(r)[1]
            writer._pending_rows = 0
            writer.max_pending_rows = 1_000_000
            r = await client.post("/v1/traces", content=_span_request(2).SerializeToString())
            assert r.status_code == 200

    asyncio.run(scenario())
    assert store.execute("SELECT count(*) FROM events WHERE org_id = 'lim'").rows == [(2,)]
    writer.close()
    meta.close()
    store.close()


def test_concurrent_requests_all_acknowledged_and_committed(srv: LiveServer) -> None:
    import concurrent.futures

    token = srv.token("gc-org", ("ingest",))
    bodies = [_span_request(50, f"gc-{i}").SerializeToString() for i in range(24)]
    with httpx.Client(headers={**PB, "authorization": f"Bearer {token}"}) as client, \
            concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda b: client.post(srv.url + "/v1/traces",
                                                    content=b).status_code, bodies))
    assert codes == [200] * 24
    total = srv.store.execute("SELECT count(*) FROM events WHERE org_id = 'gc-org'").rows
    assert total == [(24 * 50,)]
