"""Build small OTLP requests by hand for tests (the real protobuf message types)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans


def any_value(v: object) -> AnyValue:
    """A Python value as an AnyValue: None is the empty (unset) value, dicts are kvlists,
    lists and tuples arrays, anything else not listed becomes its text."""
    if v is None:
        return AnyValue()
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(x) for x in v)
        return out
    if isinstance(v, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(x))
                                       for k, x in v.items())
        return out
    return AnyValue(string_value=str(v))


def kvs(attrs: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items() if v is not None]


@dataclass
class Span:
    service: str
    name: str
    start_ns: int
    duration_ns: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes = b""
    error: bool = False
    attrs: dict[str, object] = field(default_factory=dict)
    resource: dict[str, object] = field(default_factory=dict)
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)  # name, attrs


@dataclass
class Log:
    service: str
    body: str
    time_ns: int
    severity: str = "INFO"
    trace_id: bytes = b""
    span_id: bytes = b""
    attrs: dict[str, object] = field(default_factory=dict)
    resource: dict[str, object] = field(default_factory=dict)


def add_span(scope: ScopeSpans, s: Span) -> None:
    """Append ``s`` to ``scope`` (its service and resource belong to the caller's resource)."""
    span = scope.spans.add(
        trace_id=s.trace_id, span_id=s.span_id, parent_span_id=s.parent_span_id, name=s.name,
        kind=2, start_time_unix_nano=s.start_ns, end_time_unix_nano=s.start_ns + s.duration_ns)
    span.attributes.extend(kvs(s.attrs))
    for i, (name, attrs) in enumerate(s.events):
        ev = span.events.add(name=name, time_unix_nano=s.start_ns + i)
        ev.attributes.extend(kvs(attrs))
    if s.error:
        span.status.code = 2
        span.status.message = f"{s.name} failed"


def traces_request(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for s in spans:
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(kvs({"service.name": s.service, **s.resource}))
        add_span(rs.scope_spans.add(), s)
    return req


def logs_request(logs: Iterable[Log]) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for lg in logs:
        rl = req.resource_logs.add()
        rl.resource.attributes.extend(kvs({"service.name": lg.service, **lg.resource}))
        rec = rl.scope_logs.add().log_records.add(
            time_unix_nano=lg.time_ns, severity_text=lg.severity, trace_id=lg.trace_id,
            span_id=lg.span_id)
        rec.body.string_value = lg.body
        rec.attributes.extend(kvs(lg.attrs))
    return req


def spans_table(n: int, service: str, org: str = "w",
                t0_ns: int = 1_700_000_000_000_000_000) -> pa.Table:
    """``n`` one-microsecond spans of ``service`` as the events rows ingest would write."""
    from telequery.ingest.mapping import spans_to_rows

    req = traces_request(Span(service, f"op {i}", t0_ns + i, 1000, i.to_bytes(16, "big"),
                              i.to_bytes(8, "big")) for i in range(1, n + 1))
    return spans_to_rows(req, org).table()


def otlp_json(msg: ExportTraceServiceRequest | ExportLogsServiceRequest) -> bytes:
    """``msg`` as OTLP/JSON: the protobuf JSON mapping with trace and span ids in hex (the
    one difference the OTLP spec makes)."""
    import base64

    import orjson
    from google.protobuf.json_format import MessageToDict

    def fix(node: object) -> object:
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex()
                    if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                    else fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    return orjson.dumps(fix(MessageToDict(msg)))
