"""OTLP/JSON -> the protobuf request messages the mapping reads.

OTLP/JSON is the proto3 JSON mapping with two exceptions that ``json_format`` does not
know (opentelemetry-proto, "JSON Protobuf Encoding"): trace and span ids are hex strings,
not base64, and field names may be lowerCamelCase or the original snake_case. Enums are
ints, 64-bit ints may be strings; both ``ParseDict`` handles. Unknown fields are ignored,
as the spec asks of receivers. So the ids are rewritten to base64 before parsing; an id
that is not valid hex becomes a one-byte id, which the mapping then rejects with a reason
(one bad item must not fail its whole request).
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

M = TypeVar("M", bound=Message)

_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_INVALID_ID = base64.b64encode(b"\x00").decode()


class OtlpJsonError(ValueError):
    """The body is not an OTLP/JSON request of the expected type."""


def _b64_id(value: object) -> object:
    if not isinstance(value, str):
        return value
    if not value:
        return ""
    try:
        return base64.b64encode(binascii.unhexlify(value)).decode()
    except (binascii.Error, ValueError):
        return _INVALID_ID


def _fix_ids(item: dict) -> None:
    for key in _ID_KEYS:
        if key in item:
            item[key] = _b64_id(item[key])


def _items(container: object, *path: str) -> list[dict]:
    """Dicts found by walking ``path`` (each step a list field, camel or snake case)."""
    level = [container] if isinstance(container, dict) else []
    for step in path:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in step)
        nxt: list[dict] = []
        for obj in level:
            value = obj.get(step, obj.get(snake))
            if isinstance(value, list):
                nxt.extend(v for v in value if isinstance(v, dict))
        level = nxt
    return level


def hex_ids_to_base64(body: dict, signal: str) -> dict:
    """Rewrite OTLP/JSON hex ids in place to the base64 that ``ParseDict`` expects."""
    if signal == "traces":
        for span in _items(body, "resourceSpans", "scopeSpans", "spans"):
            _fix_ids(span)
            for link in _items(span, "links"):
                _fix_ids(link)
    else:
        for rec in _items(body, "resourceLogs", "scopeLogs", "logRecords"):
            _fix_ids(rec)
    return body


def parse_dict(body: object, message: M, signal: str) -> M:
    """Fill ``message`` from a decoded OTLP/JSON object."""
    if not isinstance(body, dict):
        raise OtlpJsonError("the body must be a JSON object")
    try:
        json_format.ParseDict(hex_ids_to_base64(body, signal), message,
                              ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise OtlpJsonError(str(e)) from None
    return message


def parse_json(data: bytes, message: M, signal: str) -> M:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise OtlpJsonError(f"invalid JSON: {e}") from None
    return parse_dict(body, message, signal)


def traces_from_json(data: bytes) -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest from OTLP/JSON bytes."""
    return parse_json(data, ExportTraceServiceRequest(), "traces")


def logs_from_json(data: bytes) -> ExportLogsServiceRequest:
    """An ExportLogsServiceRequest from OTLP/JSON bytes."""
    return parse_json(data, ExportLogsServiceRequest(), "logs")


def message_to_json(message: Message) -> bytes:
    """OTLP/JSON for a response message (camelCase, ints as numbers where int32)."""
    return orjson.dumps(json_format.MessageToDict(message))
