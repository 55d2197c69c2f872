"""``events`` rows -> OTLP requests: what a destination receives is what was stored.

Every attribute of a span or log is kept in the typed maps and every resource attribute
in ``resource`` (ingest.mapping), so the request is rebuilt from those plus the span and
log columns; message content goes back as the attributes (and log body) it came from,
``gen_ai.*`` span events as their JSON attribute. What the store does not keep is not
sent: other span events and links, the scope, and whether a number attribute was an int
or a double (an integral value goes as an int).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Status

from telequery.semconv import CONTENT_LOG_BODY as LOG_BODY

SIGNALS = {"opentelemetry-traces": "span", "opentelemetry-logs": "log",
           "opentelemetry-metrics": None}  # telequery stores no metrics: nothing to send
_SPAN_KIND = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"unset": 0, "ok": 1, "error": 2}
_SEVERITY = {"debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
_INT64 = 2**63


def _attributes(into: list[KeyValue], row: dict) -> None:
    """Append a row's typed attributes (``into`` is a repeated KeyValue field)."""
    for k, v in (row["attrs_string"] or []):
        kv = into.add()
        kv.key, kv.value.string_value = k, v
    for k, v in (row["attrs_number"] or []):
        kv = into.add()
        kv.key = k
        if float(v).is_integer() and abs(v) < _INT64:
            kv.value.int_value = int(v)
        else:
            kv.value.double_value = v
    for k, v in (row["attrs_bool"] or []):
        kv = into.add()
        kv.key, kv.value.bool_value = k, v
    for k, v in (row["content"] or []):  # as sent (redacted), except a log event's body
        if k != LOG_BODY:
            kv = into.add()
            kv.key, kv.value.string_value = k, v


def _nanos(table: pa.Table, column: str) -> list[int | None]:
    """A timestamp column as integer nanoseconds (no datetime objects on the way)."""
    micros = table.column(column).cast(pa.int64()).to_pylist()
    return [None if m is None else m * 1000 for m in micros]


def _by_resource(rows: list[dict]) -> Iterator[tuple[tuple, list[int]]]:
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row["resource"] or []), []).append(i)
    yield from groups.items()


def _resource(into: list[KeyValue], key: tuple) -> None:
    for k, v in key:
        kv = into.add()
        kv.key, kv.value.string_value = k, v


def _hex(value: str | None) -> bytes:
    try:
        return bytes.fromhex(value) if value else b""
    except ValueError:
        return b""


def encode(table: pa.Table, org: str, dataset: str) -> bytes | None:
    """The OTLP request (serialized) for ``org``'s rows of ``dataset`` in ``table``, or
    None when there are none."""
    kind = SIGNALS[dataset]
    if kind is None or table.num_rows == 0:
        return None
    table = table.filter(pc.and_(pc.equal(table["org_id"], org),
                                 pc.equal(table["kind"], kind)))
    if table.num_rows == 0:
        return None
    starts = _nanos(table, "timestamp")
    rows = table.to_pylist()
    return (_spans if kind == "span" else _logs)(rows, starts, table).SerializeToString()


def _spans(rows: list[dict], starts: list, table: pa.Table) -> ExportTraceServiceRequest:
    ends = _nanos(table, "end_time")
    req = ExportTraceServiceRequest()
    for key, indices in _by_resource(rows):
        rs: ResourceSpans = req.resource_spans.add()
        _resource(rs.resource.attributes, key)
        scope = rs.scope_spans.add()
        for i in indices:
            row = rows[i]
            span = scope.spans.add()
            span.trace_id, span.span_id = _hex(row["trace_id"]), _hex(row["span_id"])
            span.parent_span_id = _hex(row["parent_span_id"])
            span.name = row["span_name"] or row["message"] or ""
            span.kind = _SPAN_KIND.get(row["span_kind"] or "", 0)  # type: ignore[assignment]
            span.start_time_unix_nano = starts[i] or 0
            span.end_time_unix_nano = ends[i] or starts[i] or 0
            span.status.code = _STATUS.get(row["status"] or "", Status.STATUS_CODE_UNSET)
            if row["status"] == "error" and row["error"]:
                span.status.message = row["error"]
            _attributes(span.attributes, row)
    return req


def _logs(rows: list[dict], starts: list, table: pa.Table) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    for key, indices in _by_resource(rows):
        rl: ResourceLogs = req.resource_logs.add()
        _resource(rl.resource.attributes, key)
        scope = rl.scope_logs.add()
        for i in indices:
            row = rows[i]
            rec = scope.log_records.add()
            rec.time_unix_nano = rec.observed_time_unix_nano = starts[i] or 0
            if row["level"]:
                rec.severity_text = row["level"].upper()
                rec.severity_number = _SEVERITY.get(row["level"], 0)  # type: ignore[assignment]
            body = dict(row["content"] or []).get(LOG_BODY, row["message"])
            if body is not None:
                rec.body.string_value = body
            rec.trace_id, rec.span_id = _hex(row["trace_id"]), _hex(row["span_id"])
            _attributes(rec.attributes, row)
    return req
