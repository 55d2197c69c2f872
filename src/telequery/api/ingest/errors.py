"""Ingest errors: one exception, and the two envelopes it is answered in.

OTLP answers a ``google.rpc.Status`` in the request's encoding (protobuf or JSON);
``/v1/events`` answers ``{"error": reason, "lines": [{"line", "error"}]}``.
"""

from __future__ import annotations

import orjson
from fastapi.responses import Response

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# google.rpc.Code values used in Status bodies.
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13,
             503: 14}
STATUS_SCHEMA: dict[str, object] = {  # google.rpc.Status as JSON
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}
EVENTS_ERROR_SCHEMA: dict[str, object] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "lines": {"type": "array", "items": {
        "type": "object", "properties": {"line": {"type": "integer"},
                                         "error": {"type": "string"}}}}}}


class IngestError(Exception):
    """A failure with its HTTP status; rendered in the endpoint's own envelope."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None,
                 lines: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        self.lines = lines or []


def status_body(code: int, message: str, protobuf: bool) -> bytes:
    """A google.rpc.Status (code = 1, message = 2), encoded by hand: two scalar fields do
    not justify a dependency on googleapis-common-protos."""
    if not protobuf:
        return orjson.dumps({"code": code, "message": message})
    msg = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(msg)) + msg


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def status_response(status: int, reason: str, protobuf: bool,
                     headers: dict[str, str] | None = None) -> Response:
    return Response(status_body(_RPC_CODE.get(status, 2), reason, protobuf), status_code=status,
                    media_type=PROTOBUF if protobuf else JSON, headers=headers)


def _joined(problems: list[tuple[str | None, str]]) -> str:
    return "; ".join(f"{f}: {r}" if f else r for f, r in problems) or "error"


def otlp_format(status: int, problems: list[tuple[str | None, str]], code: str | None,
                headers: dict[str, str], extra: dict[str, object]) -> Response:
    """Errors raised outside the handlers (unknown method, ...) as a JSON google.rpc.Status."""
    reason = _joined(problems)
    return status_response(status, reason, False, headers)


def events_json(body: object, status_code: int = 200, headers: dict[str, str] | None = None
                ) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, headers=headers,
                    media_type="application/json")


def events_error(e: IngestError) -> Response:
    return events_json({"error": e.reason, "lines": e.lines}, status_code=e.status,
                       headers=e.headers)


def events_format(status: int, problems: list[tuple[str | None, str]], code: str | None,
                  headers: dict[str, str], extra: dict[str, object]) -> Response:
    reason = _joined(problems)
    return events_json({"error": reason, "lines": []}, status_code=status, headers=headers)
