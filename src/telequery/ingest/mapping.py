"""OTLP messages -> ``events`` rows. Every row in the store is made here.

One pass over a request: resource attributes are decoded once per resource, each span or
log record becomes one row, promoted attributes fill columns (see ``semconv`` and
docs/datasets.md) and every attribute is also kept in the typed maps, so the event's
``source`` is complete. Items that break the OTLP rules are rejected with a reason; the
rest of the request is kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa

from telequery import semconv as sc
from telequery.patterns import fingerprint, message_template
from telequery.schema import COLUMN_NAMES, arrow_schema

if TYPE_CHECKING:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from telequery.ingest.content import PolicyFor

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


class Batch:
    """Rows built from one request, plus what was rejected or truncated and why.

    Rows are kept as lists in ``COLUMN_NAMES`` order (one list per row is cheaper to build
    than one append per column); ``columns`` and ``table`` transpose them. The compiled
    span decoder adds whole Arrow tables instead (``add_table``); ``table`` keeps both kinds
    in arrival order.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.row_list: list[list] = []
        self.parts: list[pa.Table] = []  # rows built as Arrow already (the compiled path)
        self.rejected = 0
        self.reasons: list[str] = []
        self.truncated = 0
        self.limits = limits or Limits()
        # org -> negotiated prices, applied when the rows are priced (ingest.enrich)
        self.overrides: Callable[[str], dict[str, dict[str, float]]] | None = None
        # org -> redaction policy, applied to message content (ingest.content)
        self.redaction: PolicyFor | None = None

    @property
    def rows(self) -> int:
        return len(self.row_list) + sum(t.num_rows for t in self.parts)

    def add_table(self, table: pa.Table) -> None:
        """Append rows already built as an events-schema Arrow table."""
        if self.row_list:
            self.parts.append(self._rows_table())
            self.row_list.clear()
        self.parts.append(table)

    @property
    def columns(self) -> dict[str, list]:
        """Column name -> values (maps as dicts) of the row-path rows."""
        if self.parts:
            raise ValueError("columns are for row-path batches; use table()")
        if not self.row_list:
            return {c: [] for c in COLUMN_NAMES}
        transposed = zip(*self.row_list, strict=True)
        return {c: list(v) for c, v in zip(COLUMN_NAMES, transposed, strict=True)}

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < 10:
            self.reasons.append(reason)

    def table(self) -> pa.Table:
        """The rows as an Arrow table of the ``events`` schema, every GenAI dialect read
        and LLM calls priced (``ingest.enrich``), message content kept apart and
        redacted (``ingest.content``)."""
        from telequery.ingest.content import capture
        from telequery.ingest.enrich import enrich

        if not self.parts:
            return capture(enrich(self._rows_table(), self.overrides), self.redaction)
        parts = [*self.parts, self._rows_table()] if self.row_list else self.parts
        return capture(enrich(parts[0] if len(parts) == 1 else pa.concat_tables(parts),
                              self.overrides), self.redaction)

    def _rows_table(self) -> pa.Table:
        n = len(self.row_list)
        columns = zip(*self.row_list, strict=True) if n else ((),) * len(COLUMN_NAMES)
        arrays = []
        for f, values in zip(_SCHEMA, columns, strict=True):
            if pa.types.is_map(f.type):
                arrays.append(_map_array(values, f.type))
            else:
                arrays.append(pa.array(values, type=f.type))
        return pa.Table.from_arrays(arrays, schema=_SCHEMA)

    def message(self) -> str:
        parts = []
        if self.rejected:
            parts.append(f"{self.rejected} item(s) rejected: " + "; ".join(self.reasons))
        if self.truncated:
            parts.append(f"{self.truncated} attribute value(s) truncated or dropped "
                         f"(limits: {self.limits.max_attributes} attributes, "
                         f"{self.limits.max_value_chars} chars)")
        return ". ".join(parts)


def _map_array(values: tuple[dict, ...], type: pa.MapType) -> pa.Array:
    """dicts -> MapArray via flat offsets/keys/items (far cheaper than per-dict conversion)."""
    offsets = pa.array(list(accumulate(map(len, values), initial=0)), type=pa.int32())
    keys = pa.array(list(chain.from_iterable(values)), type=type.key_type)
    items = pa.array(list(chain.from_iterable(map(dict.values, values))),
                     type=type.item_type)
    return pa.MapArray.from_arrays(offsets, keys, items, type=type)


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


def _attributes(kvs: Sequence[KeyValue], limits: Limits, batch: Batch) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in kvs:
        if len(out) >= limits.max_attributes:
            batch.truncated += 1
            continue
        out[kv.key] = any_value(kv.value)
    return out


def _decode(kvs: Sequence[KeyValue], limits: Limits, batch: Batch
            ) -> tuple[dict[str, object], dict[str, str], dict[str, float], dict[str, bool]]:
    """Attributes and their three typed maps in one pass (the ingest hot path).

    Same result as ``_attributes`` followed by ``_Maps``; duplicate keys or too many
    attributes take that slower, general path.
    """
    if len(kvs) > limits.max_attributes:
        attrs = _attributes(kvs, limits, batch)
        m = _Maps(attrs, limits, batch)
        return attrs, m.strings, m.numbers, m.bools
    attrs: dict[str, object] = {}
    strings: dict[str, str] = {}
    numbers: dict[str, float] = {}
    bools: dict[str, bool] = {}
    max_chars = limits.max_value_chars
    for kv in kvs:
        key = kv.key
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            s = v.string_value
            attrs[key] = s
            if len(s) > max_chars:
                s = s[:max_chars] + TRUNCATION_MARKER
                batch.truncated += 1
            strings[key] = s
        elif kind == "int_value":
            i = v.int_value
            attrs[key] = i
            numbers[key] = float(i)
        elif kind == "double_value":
            d = v.double_value
            attrs[key] = d
            numbers[key] = d
        elif kind == "bool_value":
            b = v.bool_value
            attrs[key] = b
            bools[key] = b
        else:
            value = any_value(v)
            attrs[key] = value
            if value is not None:
                s = orjson.dumps(value).decode() if not isinstance(value, str) else value
                if len(s) > max_chars:
                    s = s[:max_chars] + TRUNCATION_MARKER
                    batch.truncated += 1
                strings[key] = s
    if len(attrs) != len(kvs):  # duplicate keys: the last one wins, in one map only
        m = _Maps(attrs, limits, batch)
        return attrs, m.strings, m.numbers, m.bools
    return attrs, strings, numbers, bools


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
    """An integer column's value: None unless ``v`` converts to an int64."""
    v = attrs.get(key)
    if isinstance(v, bool) or v is None:
        return None
    try:
        i = int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf
        return None
    return i if -(2**63) <= i < 2**63 else None


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


_IX = {c: i for i, c in enumerate(COLUMN_NAMES)}
(_ORG, _DATASET, _KIND, _TS, _ID, _SAMPLE, _SERVICE, _REGION, _TEAMS, _ASTR, _ANUM, _ABOOL,
 _RESOURCE, _MODEL, _PROVIDER, _COLD, _CONTENT) = (_IX[c] for c in (
    "org_id", "dataset", "kind", "timestamp", "id", "sample_interval", "service", "region",
    "teams", "attrs_string", "attrs_number", "attrs_bool", "resource", "model", "provider",
    "cold_start", "content"))
(_TRACE_ID, _SPAN_ID, _PARENT, _SPAN_NAME, _KIND_COL, _END, _DURATION, _STATUS_COL, _LEVEL,
 _MESSAGE, _ERROR, _MESSAGE_TEMPLATE, _ERROR_TEMPLATE, _FINGERPRINT) = (_IX[c] for c in (
    "trace_id", "span_id", "parent_span_id", "span_name", "span_kind", "end_time",
    "duration_ms", "status", "level", "message", "error", "message_template",
    "error_template", "fingerprint"))

# Attribute key -> (column index, getter) for the promoted columns a plain lookup fills.
_SIMPLE: dict[str, tuple[int, Callable[[dict[str, object], str], object]]] = {
    sc.FAAS_INVOCATION_ID: (_IX["request_id"], _str),
    sc.URL_FULL: (_IX["url"], _str),
    sc.HTTP_STATUS_CODE: (_IX["status_code"], _int),
    sc.CF_OUTCOME: (_IX["outcome"], _str),
    sc.CF_COLO: (_IX["origin"], _str),
    sc.GEN_AI_OPERATION: (_IX["operation"], _str),
    sc.GEN_AI_AGENT_NAME: (_IX["agent_name"], _str),
    sc.GEN_AI_AGENT_ID: (_IX["agent_id"], _str),
    sc.GEN_AI_CONVERSATION_ID: (_IX["conversation_id"], _str),
    sc.GEN_AI_INPUT_TOKENS: (_IX["input_tokens"], _int),
    sc.GEN_AI_OUTPUT_TOKENS: (_IX["output_tokens"], _int),
    sc.GEN_AI_COST: (_IX["cost"], _float),
    sc.GEN_AI_TOOL_NAME: (_IX["tool_name"], _str),
    sc.USER_ID: (_IX["user_id"], _str),
}
# Keys that need more than a lookup (fallbacks, defaults, conversions).
_SPECIAL = frozenset({sc.SAMPLE_INTERVAL, sc.FAAS_TRIGGER, sc.CLOUD_REGION, sc.FAAS_COLDSTART,
                      sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_PROVIDER,
                      sc.GEN_AI_SYSTEM, sc.TEAM})
_PROMOTED = frozenset(_SIMPLE) | _SPECIAL


class _Resource:
    """What a resource contributes to each of its rows, decoded once: a row template."""

    def __init__(self, attrs: dict[str, object], default_dataset: str, org: str,
                 kind: str) -> None:
        self.strings = {k: v if isinstance(v, str) else orjson.dumps(v).decode()
                        for k, v in attrs.items() if v is not None}
        self.service = _str(attrs, sc.SERVICE_NAME)
        self.region = _str(attrs, sc.CLOUD_REGION)
        self.dataset = _str(attrs, sc.DATASET) or default_dataset
        row: list = [None] * len(COLUMN_NAMES)
        row[_ORG] = org
        row[_DATASET] = self.dataset
        row[_KIND] = kind
        row[_SAMPLE] = 1.0
        row[_SERVICE] = self.service
        row[_REGION] = self.region
        row[_RESOURCE] = self.strings
        self.template = row


def _row(res: _Resource, ts_us: int, row_id: str, attrs: dict[str, object],
         strings: dict[str, str], numbers: dict[str, float], bools: dict[str, bool]) -> list:
    """A new row with the columns shared by spans and logs filled."""
    row = res.template.copy()
    row[_TS] = ts_us
    row[_ID] = row_id
    row[_TEAMS] = []
    row[_CONTENT] = {}
    row[_ASTR] = strings
    row[_ANUM] = numbers
    row[_ABOOL] = bools
    found = attrs.keys() & _PROMOTED
    if not found:
        return row
    for key in found:
        simple = _SIMPLE.get(key)
        if simple is not None:
            row[simple[0]] = simple[1](attrs, key)
    if found & _SPECIAL:
        sample = _float(attrs, sc.SAMPLE_INTERVAL)
        row[_SAMPLE] = sample if sample and sample > 0 else 1.0
        row[_IX["trigger"]] = _trigger(attrs)
        row[_REGION] = _str(attrs, sc.CLOUD_REGION) or res.region
        cold = attrs.get(sc.FAAS_COLDSTART)
        row[_COLD] = cold if isinstance(cold, bool) else None
        row[_MODEL] = _str(attrs, sc.GEN_AI_RESPONSE_MODEL) or \
            _str(attrs, sc.GEN_AI_REQUEST_MODEL)
        row[_PROVIDER] = _str(attrs, sc.GEN_AI_PROVIDER) or _str(attrs, sc.GEN_AI_SYSTEM)
        row[_TEAMS] = _teams(attrs.get(sc.TEAM))
    return row


def _error_template(err: str | None) -> str | None:
    return message_template(err) if err else None


def _batch(batch: Batch | None, limits: Limits | None) -> tuple[Batch, Limits]:
    """The batch to add to (a new one if none), with ``limits`` (else its own) in force."""
    batch = batch if batch is not None else Batch(limits)
    limits = limits or batch.limits
    batch.limits = limits
    return batch, limits


def spans_to_rows(req: ExportTraceServiceRequest, org: str, *, batch: Batch | None = None,
                  limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET
                  ) -> Batch:
    """Map an ExportTraceServiceRequest to rows for ``org``."""
    batch, limits = _batch(batch, limits)
    out = batch.row_list
    for rs in req.resource_spans:
        res = _Resource(_attributes(rs.resource.attributes, limits, batch), default_dataset,
                        org, "span")
        for ss in rs.scope_spans:
            for span in ss.spans:
                trace_id, span_id = span.trace_id, span.span_id
                if len(trace_id) != 16 or len(span_id) != 8:
                    batch.reject(f"span {span.name!r}: trace_id must be 16 bytes and span_id "
                                 f"8 bytes")
                    continue
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                if start == 0 or end < start:
                    batch.reject(f"span {span.name!r}: start time missing or after end time")
                    continue
                attrs, strings, numbers, bools = _decode(span.attributes, limits, batch)
                ts_us = start // 1000
                span_hex = span_id.hex()
                row = _row(res, ts_us, f"{ts_us:015x}{span_hex}", attrs, strings, numbers,
                           bools)
                name = span.name
                code = span.status.code
                row[_TRACE_ID] = trace_id.hex()
                row[_SPAN_ID] = span_hex
                row[_PARENT] = span.parent_span_id.hex() or None
                row[_SPAN_NAME] = name
                row[_KIND_COL] = _SPAN_KIND.get(span.kind)
                row[_END] = end // 1000
                row[_DURATION] = (end - start) / 1e6
                row[_MESSAGE] = name
                if span.events:
                    genai = _genai_events(span, limits, batch)
                    if genai is not None:
                        strings[sc.GEN_AI_SPAN_EVENTS] = genai
                if code == 2:
                    error = _str(attrs, sc.EXCEPTION_MESSAGE) or span.status.message or \
                        _exception_event(span) or _str(attrs, sc.ERROR_TYPE) or "error"
                    row[_STATUS_COL] = "error"
                    row[_LEVEL] = "error"
                    row[_ERROR] = error
                    row[_ERROR_TEMPLATE] = _error_template(error)
                else:
                    row[_STATUS_COL] = _STATUS.get(code, "unset")
                    row[_LEVEL] = "info"
                out.append(row)
    return batch


def _exception_event(span: object) -> str | None:
    for ev in span.events:  # type: ignore[attr-defined]
        if ev.name == "exception":
            for kv in ev.attributes:
                if kv.key == sc.EXCEPTION_MESSAGE:
                    return str(any_value(kv.value))
    return None


def _genai_events(span: object, limits: Limits, batch: Batch) -> str | None:
    """The span's ``gen_ai.*`` events (prompt and completion content in the event form of
    the GenAI conventions) as one JSON list of ``{name, time, attributes}``, for
    ``ingest.content`` to keep with the row's content; None when there are none."""
    found = [{"name": ev.name, "time": ev.time_unix_nano,
              "attributes": _attributes(ev.attributes, limits, batch)}
             for ev in span.events if ev.name.startswith("gen_ai.")]  # type: ignore[attr-defined]
    return orjson.dumps(found, default=_jsonable).decode() if found else None


def _jsonable(v: object) -> object:
    return v.hex() if isinstance(v, bytes) else str(v)


def random_id_suffix() -> str:
    """The random half of a log row's id (16 hex digits)."""
    return os.urandom(8).hex()


def logs_to_rows(req: ExportLogsServiceRequest, org: str, *, batch: Batch | None = None,
                 limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET,
                 id_suffix: Callable[[], str] = random_id_suffix) -> Batch:
    """Map an ExportLogsServiceRequest to rows for ``org``.

    ``id_suffix`` makes the random part of the row ids injectable (equivalence tests).
    """
    batch, limits = _batch(batch, limits)
    out = batch.row_list
    for rl in req.resource_logs:
        res = _Resource(_attributes(rl.resource.attributes, limits, batch), default_dataset,
                        org, "log")
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                ts_ns = rec.time_unix_nano or rec.observed_time_unix_nano
                if ts_ns == 0:
                    batch.reject("log record: neither time_unix_nano nor "
                                 "observed_time_unix_nano is set")
                    continue
                trace_id, span_id = rec.trace_id, rec.span_id
                if (trace_id and len(trace_id) != 16) or (span_id and len(span_id) != 8):
                    batch.reject("log record: trace_id must be 16 bytes and span_id 8 bytes")
                    continue
                attrs, strings, numbers, bools = _decode(rec.attributes, limits, batch)
                event_name = rec.event_name
                if event_name and sc.EVENT_NAME not in attrs:
                    attrs[sc.EVENT_NAME] = event_name
                    m = _Maps({sc.EVENT_NAME: event_name}, limits, batch)
                    strings[sc.EVENT_NAME] = m.strings[sc.EVENT_NAME]
                ts_us = ts_ns // 1000
                row = _row(res, ts_us, f"{ts_us:015x}{id_suffix()}", attrs, strings,
                           numbers, bools)
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
                row[_TRACE_ID] = trace_id.hex() or None
                row[_SPAN_ID] = span_id.hex() or None
                row[_LEVEL] = level
                row[_MESSAGE] = message
                row[_ERROR] = error
                row[_MESSAGE_TEMPLATE] = template
                row[_ERROR_TEMPLATE] = _error_template(error)
                row[_FINGERPRINT] = fingerprint(template) if template else None
                out.append(row)
    return batch
