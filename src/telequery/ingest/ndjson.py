"""NDJSON events -> an OTLP ExportLogsServiceRequest, so the log mapping makes the rows.

One JSON object per line. Well-known keys fill the LogRecord and its resource; every
other key becomes a typed attribute (nested objects are flattened with dots, arrays stay
arrays), so an NDJSON event and an OTLP log with the same content give the same row.

| line key | becomes |
|---|---|
| ``timestamp`` / ``time`` / ``@timestamp`` / ``ts`` | ISO 8601, or epoch s/ms/µs/ns (by size) |
| ``message`` / ``msg`` / ``body`` | body (a string; other JSON is kept as JSON) |
| ``level`` / ``severity`` | severity text (``warning`` -> warn, ...) |
| ``service`` / ``service.name`` | resource ``service.name`` |
| ``dataset`` | resource ``telequery.dataset`` |
| ``trace_id`` / ``traceId``, ``span_id`` / ``spanId`` | hex ids (32 / 16 hex digits) |

A line that is not a JSON object, or whose timestamp or ids are malformed, is reported by
its 1-based line number; the valid lines are kept. A line without a time gets the time it
was received.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from telequery import semconv as sc

TIME_KEYS = ("timestamp", "time", "@timestamp", "ts")
MESSAGE_KEYS = ("message", "msg", "body")
LEVEL_KEYS = ("level", "severity")
SERVICE_KEYS = ("service", "service.name")
TRACE_KEYS = ("trace_id", "traceId")
SPAN_KEYS = ("span_id", "spanId")
DATASET_KEY = "dataset"
_KNOWN = {*TIME_KEYS, *MESSAGE_KEYS, *LEVEL_KEYS, *SERVICE_KEYS, *TRACE_KEYS, *SPAN_KEYS,
          DATASET_KEY}
_INT64 = (-(2**63), 2**63 - 1)
MAX_REPORTED_ERRORS = 100
MAX_DEPTH = 128  # nesting of a line's values; deeper is a rejected line, not a RecursionError


class LineError(ValueError):
    """Why one line was rejected."""


@dataclass
class Parsed:
    """A request built from NDJSON lines, and the lines that were rejected."""

    request: ExportLogsServiceRequest = field(default_factory=ExportLogsServiceRequest)
    lines: int = 0  # non-blank lines seen
    accepted: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    rejected: int = 0

    def reject(self, line_no: int, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line_no, reason))


def any_value(v: object, depth: int = 0) -> AnyValue:
    """A JSON value as an OTLP AnyValue (ints beyond int64 become doubles)."""
    if depth > MAX_DEPTH:
        raise LineError(f"values nest deeper than {MAX_DEPTH} levels")
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        if _INT64[0] <= v <= _INT64[1]:
            return AnyValue(int_value=v)
        return AnyValue(double_value=float(v))
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(x, depth + 1) for x in v if x is not None)
        return out
    try:
        return AnyValue(string_value=orjson.dumps(v).decode())
    except orjson.JSONEncodeError:  # nested past orjson's limit
        raise LineError(f"values nest deeper than {MAX_DEPTH} levels") from None


def _flatten(obj: dict, prefix: str, out: list[KeyValue], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise LineError(f"attributes nest deeper than {MAX_DEPTH} levels")
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if v is None:
            continue
        if isinstance(v, dict):
            _flatten(v, key + ".", out, depth + 1)
        else:
            out.append(KeyValue(key=key, value=any_value(v, depth + 1)))


def epoch_ns(value: object) -> int:
    """A timestamp (ISO 8601 text, or epoch seconds/ms/µs/ns by magnitude) in epoch ns."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text) if text.replace(".", "", 1).isdigit() else None
        except ValueError:
            value = None
        if value is None:
            try:
                dt = datetime.fromisoformat(text)
            except ValueError:
                raise LineError(f"timestamp {text[:40]!r} is neither ISO 8601 nor epoch "
                                f"time") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
            value = ((delta.days * 86_400 + delta.seconds) * 1_000_000
                     + delta.microseconds) * 1000
            if not 0 <= value < 2**63:  # the range as an epoch number (int64 ns)
                raise LineError("timestamp must be between 1970-01-01 and 2262-04-11")
            return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LineError("timestamp must be a string or a number")
    if value <= 0:
        raise LineError("timestamp must be after 1970-01-01")
    scale = next((s for limit, s in ((1e11, 1_000_000_000), (1e14, 1_000_000), (1e17, 1000))
                  if value < limit), 1)
    if value * scale >= 2**63:  # e.g. 3.5e10 seconds is the year 3089
        raise LineError("timestamp must be between 1970-01-01 and 2262-04-11")
    return int(value * scale)


def _hex_id(value: object, length: int, name: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise LineError(f"{name} must be {2 * length} hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise LineError(f"{name} must be {2 * length} hex digits") from None


def _first(obj: dict, keys: tuple[str, ...]) -> object:
    for k in keys:
        v = obj.get(k)
        if v is not None:
            return v
    return None


def line_to_record(obj: dict, now_ns: int) -> tuple[LogRecord, str | None, str | None]:
    """One event -> (LogRecord, service, dataset); raises LineError."""
    rec = LogRecord(observed_time_unix_nano=now_ns)
    ts = _first(obj, TIME_KEYS)
    rec.time_unix_nano = epoch_ns(ts) if ts is not None else now_ns
    body = _first(obj, MESSAGE_KEYS)
    if body is not None:
        if isinstance(body, str):
            rec.body.string_value = body
        else:
            rec.body.CopyFrom(any_value(body))
    level = _first(obj, LEVEL_KEYS)
    if level is not None:
        if isinstance(level, int) and not isinstance(level, bool) and 0 < level <= 24:
            rec.severity_number = level
        else:
            rec.severity_text = str(level)
    trace = _first(obj, TRACE_KEYS)
    if trace is not None:
        rec.trace_id = _hex_id(trace, 16, "trace_id")
    span = _first(obj, SPAN_KEYS)
    if span is not None:
        rec.span_id = _hex_id(span, 8, "span_id")
    attrs: list[KeyValue] = []
    _flatten({k: v for k, v in obj.items() if k not in _KNOWN}, "", attrs)
    rec.attributes.extend(attrs)
    service = _first(obj, SERVICE_KEYS)
    dataset = obj.get(DATASET_KEY)
    return (rec, None if service is None else str(service),
            None if dataset is None else str(dataset))


def parse_lines(data: bytes, *, first_line: int = 1, now_ns: int | None = None,
                max_items: int | None = None) -> Parsed:
    """NDJSON bytes -> one ExportLogsServiceRequest (a resource per service and dataset)."""
    now_ns = now_ns or time.time_ns()
    out = Parsed()
    scopes: dict[tuple[str | None, str | None], object] = {}
    for i, raw in enumerate(data.split(b"\n"), start=first_line):
        line = raw.strip()
        if not line:
            continue
        out.lines += 1
        if max_items is not None and out.lines > max_items:
            raise LineError(f"more than {max_items} lines in one request")
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            out.reject(i, f"invalid JSON: {e}")
            continue
        if not isinstance(obj, dict):
            out.reject(i, "a line must be a JSON object")
            continue
        try:
            rec, service, dataset = line_to_record(obj, now_ns)
        except LineError as e:
            out.reject(i, str(e))
            continue
        key = (service, dataset)
        scope = scopes.get(key)
        if scope is None:
            rl = out.request.resource_logs.add()
            if service is not None:
                rl.resource.attributes.add(key=sc.SERVICE_NAME).value.string_value = service
            if dataset is not None:
                rl.resource.attributes.add(key=sc.DATASET).value.string_value = dataset
            scope = scopes[key] = rl.scope_logs.add()
            scope.scope.name = "telequery.ndjson"
        scope.log_records.append(rec)  # type: ignore[attr-defined]
        out.accepted += 1
    return out
