"""OTLP messages -> ``events`` rows. Every row in the store is made here.

One pass over a request: resource attributes are decoded once per resource, each span or
log record becomes one row, promoted attributes fill columns (see ``semconv`` and
docs/datasets.md) and every attribute is also kept in the typed maps, so the event's
``source`` is complete. Items that break the OTLP rules are rejected with a reason; the
rest of the request is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa

from telequery import semconv as sc
from telequery.patterns import fingerprint, message_template
from telequery.schema import COLUMN_NAMES, arrow_schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

MAX_ATTRIBUTES = 256
MAX_VALUE_CHARS = 16_384
TRUNCATION_MARKER = "…[truncated]"
DEFAULT_DATASET = "otel"

_STATUS = {0: "unset", 1: "ok", 2: "error"}
_SPAN_KIND = {0: None, 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_SCHEMA = arrow_schema()


@dataclass
class Limits:
    """Per-item limits; values past them are truncated with a marker and counted."""

    max_attributes: int = MAX_ATTRIBUTES
    max_value_chars: int = MAX_VALUE_CHARS


@dataclass
class Batch:
    """Rows built from one request, plus what was rejected or truncated and why."""

    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in COLUMN_NAMES})
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    truncated: int = 0

    @property
    def rows(self) -> int:
        return len(self.columns["id"])

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 10:
            self.reasons.append(reason)

    def table(self) -> pa.Table:
        return pa.Table.from_pydict(self.columns, schema=_SCHEMA)

    def message(self) -> str:
        parts = []
        if self.rejected:
            parts.append(f"{self.rejected} item(s) rejected: " + "; ".join(self.reasons))
        if self.truncated:
            parts.append(f"{self.truncated} attribute value(s) truncated or dropped "
                         f"(limits: {MAX_ATTRIBUTES} attributes, {MAX_VALUE_CHARS} chars)")
        return ". ".join(parts)


def any_value(v: AnyValue) -> object:
    """Decode an OTLP AnyValue to a Python value (arrays and maps recursively)."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return None


def _attributes(kvs: Iterable[KeyValue], limits: Limits, batch: Batch) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in kvs:
        if len(out) >= limits.max_attributes:
            batch.truncated += 1
            continue
        out[kv.key] = any_value(kv.value)
    return out


class _Maps:
    """An item's attributes split into the three typed maps (values bounded)."""

    __slots__ = ("bools", "numbers", "strings")

    def __init__(self, attrs: dict[str, object], limits: Limits, batch: Batch) -> None:
        self.strings: dict[str, str] = {}
        self.numbers: dict[str, float] = {}
        self.bools: dict[str, bool] = {}
        for k, v in attrs.items():
            if isinstance(v, bool):
                self.bools[k] = v
            elif isinstance(v, (int, float)):
                self.numbers[k] = float(v)
            elif v is not None:
                s = v if isinstance(v, str) else orjson.dumps(v).decode()
                if len(s) > limits.max_value_chars:
                    s = s[: limits.max_value_chars] + TRUNCATION_MARKER
                    batch.truncated += 1
                self.strings[k] = s


def _str(attrs: dict[str, object], key: str) -> str | None:
    v = attrs.get(key)
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


def _int(attrs: dict[str, object], key: str) -> int | None:
    v = attrs.get(key)
    if isinstance(v, bool) or v is None:
        return None
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _float(attrs: dict[str, object], key: str) -> float | None:
    v = attrs.get(key)
    if isinstance(v, bool) or v is None:
        return None
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _teams(v: object) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v if x is not None]
    return [str(v)]


def _trigger(attrs: dict[str, object]) -> str | None:
    raw = _str(attrs, sc.FAAS_TRIGGER)
    return sc.TRIGGER_FROM_FAAS.get(raw, raw) if raw else None


def _level_of(severity_text: str, severity_number: int) -> str | None:
    if severity_text:
        t = severity_text.lower()
        return {"warning": "warn", "err": "error", "critical": "fatal", "trace": "debug"}.get(t, t)
    if not severity_number:
        return None
    if severity_number <= 8:
        return "debug"
    if severity_number <= 12:
        return "info"
    if severity_number <= 16:
        return "warn"
    if severity_number <= 20:
        return "error"
    return "fatal"


class _Resource:
    """What a resource contributes to each of its rows, decoded once."""

    def __init__(self, attrs: dict[str, object], default_dataset: str) -> None:
        self.strings = {k: v if isinstance(v, str) else orjson.dumps(v).decode()
                        for k, v in attrs.items() if v is not None}
        self.service = _str(attrs, sc.SERVICE_NAME)
        self.region = _str(attrs, sc.CLOUD_REGION)
        self.dataset = _str(attrs, sc.DATASET) or default_dataset


def _common(cols: dict[str, list], org: str, res: _Resource, kind: str, ts_us: int,
            row_id: str, attrs: dict[str, object], maps: _Maps) -> None:
    """Columns shared by spans and logs."""
    cols["org_id"].append(org)
    cols["dataset"].append(res.dataset)
    cols["kind"].append(kind)
    cols["timestamp"].append(ts_us)
    cols["id"].append(row_id)
    sample = _float(attrs, sc.SAMPLE_INTERVAL)
    cols["sample_interval"].append(sample if sample and sample > 0 else 1.0)
    cols["service"].append(res.service)
    cols["request_id"].append(_str(attrs, sc.FAAS_INVOCATION_ID))
    cols["url"].append(_str(attrs, sc.URL_FULL))
    cols["status_code"].append(_int(attrs, sc.HTTP_STATUS_CODE))
    cols["trigger"].append(_trigger(attrs))
    cols["outcome"].append(_str(attrs, sc.CF_OUTCOME))
    cols["origin"].append(_str(attrs, sc.CF_COLO))
    cols["region"].append(_str(attrs, sc.CLOUD_REGION) or res.region)
    cold = attrs.get(sc.FAAS_COLDSTART)
    cols["cold_start"].append(cold if isinstance(cold, bool) else None)
    cols["operation"].append(_str(attrs, sc.GEN_AI_OPERATION))
    cols["agent_name"].append(_str(attrs, sc.GEN_AI_AGENT_NAME))
    cols["agent_id"].append(_str(attrs, sc.GEN_AI_AGENT_ID))
    cols["conversation_id"].append(_str(attrs, sc.GEN_AI_CONVERSATION_ID))
    cols["model"].append(_str(attrs, sc.GEN_AI_RESPONSE_MODEL)
                         or _str(attrs, sc.GEN_AI_REQUEST_MODEL))
    cols["provider"].append(_str(attrs, sc.GEN_AI_PROVIDER) or _str(attrs, sc.GEN_AI_SYSTEM))
    cols["input_tokens"].append(_int(attrs, sc.GEN_AI_INPUT_TOKENS))
    cols["output_tokens"].append(_int(attrs, sc.GEN_AI_OUTPUT_TOKENS))
    cols["cost"].append(_float(attrs, sc.GEN_AI_COST))
    cols["tool_name"].append(_str(attrs, sc.GEN_AI_TOOL_NAME))
    cols["user_id"].append(_str(attrs, sc.USER_ID))
    cols["teams"].append(_teams(attrs.get(sc.TEAM)))
    cols["attrs_string"].append(maps.strings)
    cols["attrs_number"].append(maps.numbers)
    cols["attrs_bool"].append(maps.bools)
    cols["resource"].append(res.strings)


def _error_template(err: str | None) -> str | None:
    return message_template(err) if err else None


def spans_to_rows(req: ExportTraceServiceRequest, org: str, *, batch: Batch | None = None,
                  limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET
                  ) -> Batch:
    """Map an ExportTraceServiceRequest to rows for ``org``."""
    batch = batch or Batch()
    limits = limits or Limits()
    cols = batch.columns
    for rs in req.resource_spans:
        res = _Resource(_attributes(rs.resource.attributes, limits, batch), default_dataset)
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    batch.reject(f"span {span.name!r}: trace_id must be 16 bytes and span_id "
                                 f"8 bytes")
                    continue
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if start == 0 or end < start:
                    batch.reject(f"span {span.name!r}: start time missing or after end time")
                    continue
                attrs = _attributes(span.attributes, limits, batch)
                maps = _Maps(attrs, limits, batch)
                ts_us = start // 1000
                span_hex = span.span_id.hex()
                _common(cols, org, res, "span", ts_us, f"{ts_us:015x}{span_hex}", attrs, maps)
                status = _STATUS.get(span.status.code, "unset")
                error = None
                if status == "error":
                    error = _str(attrs, sc.EXCEPTION_MESSAGE) or span.status.message or \
                        _exception_event(span) or _str(attrs, sc.ERROR_TYPE) or "error"
                cols["trace_id"].append(span.trace_id.hex())
                cols["span_id"].append(span_hex)
                cols["parent_span_id"].append(span.parent_span_id.hex() or None)
                cols["span_name"].append(span.name)
                cols["span_kind"].append(_SPAN_KIND.get(span.kind))
                cols["end_time"].append(end // 1000)
                cols["duration_ms"].append((end - start) / 1e6)
                cols["status"].append(status)
                cols["level"].append("error" if status == "error" else "info")
                cols["message"].append(span.name)
                cols["error"].append(error)
                cols["message_template"].append(None)
                cols["error_template"].append(_error_template(error))
                cols["fingerprint"].append(None)
    return batch


def _exception_event(span: object) -> str | None:
    for ev in span.events:  # type: ignore[attr-defined]
        if ev.name == "exception":
            for kv in ev.attributes:
                if kv.key == sc.EXCEPTION_MESSAGE:
                    return str(any_value(kv.value))
    return None


def logs_to_rows(req: ExportLogsServiceRequest, org: str, *, batch: Batch | None = None,
                 limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET
                 ) -> Batch:
    """Map an ExportLogsServiceRequest to rows for ``org``."""
    batch = batch or Batch()
    limits = limits or Limits()
    cols = batch.columns
    for rl in req.resource_logs:
        res = _Resource(_attributes(rl.resource.attributes, limits, batch), default_dataset)
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                ts_ns = rec.time_unix_nano or rec.observed_time_unix_nano
                if ts_ns == 0:
                    batch.reject("log record: neither time_unix_nano nor "
                                 "observed_time_unix_nano is set")
                    continue
                if (rec.trace_id and len(rec.trace_id) != 16) or \
                        (rec.span_id and len(rec.span_id) != 8):
                    batch.reject("log record: trace_id must be 16 bytes and span_id 8 bytes")
                    continue
                attrs = _attributes(rec.attributes, limits, batch)
                if rec.event_name:
                    attrs.setdefault(sc.EVENT_NAME, rec.event_name)
                maps = _Maps(attrs, limits, batch)
                ts_us = ts_ns // 1000
                _common(cols, org, res, "log", ts_us, f"{ts_us:015x}{os.urandom(8).hex()}",
                        attrs, maps)
                body = any_value(rec.body) if rec.HasField("body") else None
                message = body if isinstance(body, str) or body is None else \
                    orjson.dumps(body).decode()
                if message is not None and len(message) > limits.max_value_chars:
                    message = message[: limits.max_value_chars] + TRUNCATION_MARKER
                    batch.truncated += 1
                level = _level_of(rec.severity_text, rec.severity_number)
                error = _str(attrs, sc.EXCEPTION_MESSAGE)
                if error is None and level in ("error", "fatal"):
                    error = message
                template = message_template(message) if message else None
                cols["trace_id"].append(rec.trace_id.hex() or None)
                cols["span_id"].append(rec.span_id.hex() or None)
                cols["parent_span_id"].append(None)
                cols["span_name"].append(None)
                cols["span_kind"].append(None)
                cols["end_time"].append(None)
                cols["duration_ms"].append(None)
                cols["status"].append(None)
                cols["level"].append(level)
                cols["message"].append(message)
                cols["error"].append(error)
                cols["message_template"].append(template)
                cols["error_template"].append(_error_template(error))
                cols["fingerprint"].append(fingerprint(template) if template else None)
    return batch
