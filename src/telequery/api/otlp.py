"""OTLP/HTTP ingest: ``POST /v1/traces`` and ``POST /v1/logs``.

Follows the OTLP/HTTP spec (opentelemetry-proto, docs/specification.md): a body is an
Export*ServiceRequest in binary protobuf or JSON, optionally gzip-encoded; the answer is
the Export*ServiceResponse in the request's encoding, with ``partial_success`` when items
were rejected (or values truncated). Failures are a ``google.rpc.Status`` in the same
encoding: 400 for a malformed body, 401/403 for auth, 413 for size limits, 415 for an
unsupported content type or encoding, and 429/503 with ``Retry-After`` (retryable for the
stock exporters) when the writer is full or a commit failed. A request is answered only
once its rows are durable: in the fsynced ingest log on DuckDB, committed on ClickHouse
(see ``ingest.writer`` and docs/ingest.md).

Decoding and mapping run in a worker thread so the event loop keeps reading sockets while
the CPU-bound part of the previous request runs.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from telequery.api import errors
from telequery.api.deps import services
from telequery.api.openapi import raw_body
from telequery.ingest.fast import logs_from_bytes, spans_from_bytes
from telequery.ingest.mapping import Batch, Limits, logs_to_rows, spans_to_rows
from telequery.ingest.otlp_json import OtlpJsonError, message_to_json, parse_json
from telequery.ingest.writer import Overloaded
from telequery.store.base import StoreUnavailable

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.meta import Principal

log = logging.getLogger("telequery.ingest")
router = APIRouter(tags=["ingest"])

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"}

# google.rpc.Code values used in Status bodies.
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13,
             503: 14}


@dataclass
class IngestLimits:
    """Request limits of the ingest endpoints; ``app.state.ingest_limits`` overrides them."""

    max_body_bytes: int = 16 * 1024 * 1024  # as sent (compressed)
    max_decoded_bytes: int = 64 * 1024 * 1024  # after gzip: guards against zip bombs
    max_items: int = 100_000  # spans / log records / NDJSON lines per request
    retry_after_s: int = 1
    item: Limits = field(default_factory=Limits)


def limits_of(request: Request) -> IngestLimits:
    return getattr(request.app.state, "ingest_limits", None) or IngestLimits()


class IngestError(Exception):
    """A failure with its HTTP status; rendered in the endpoint's own envelope."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None,
                 lines: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        self.lines = lines or []


# -- shared by the OTLP and NDJSON endpoints -----------------------------------------------
def token_of(request: Request) -> str | None:
    """``Authorization: Bearer T`` or a bare ``Authorization: T`` (what people put in
    OTEL_EXPORTER_OTLP_HEADERS), else ``X-API-Key``."""
    auth = request.headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() or None
        return auth if not value else None
    return request.headers.get("x-api-key") or None


def authenticate(request: Request) -> Principal:
    principal = services(request).meta.authenticate(token_of(request))
    if principal is None:
        raise IngestError(401, "Unauthorized: a valid API token with the 'ingest' scope is "
                               "required (Authorization: Bearer <token>)")
    if not principal.can("ingest"):
        raise IngestError(403, "Forbidden: the token lacks the 'ingest' scope")
    return principal


async def read_body(request: Request, limits: IngestLimits) -> bytes:
    """The request body, size-checked as it arrives, then un-gzipped if so encoded."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise IngestError(413, f"body of {declared} bytes exceeds the limit of "
                               f"{limits.max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise IngestError(413, f"body exceeds the limit of {limits.max_body_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return inflate(body, limits.max_decoded_bytes)
    if encoding == "deflate":  # the OTLP exporters offer it too; zlib-wrapped per HTTP
        return inflate(body, limits.max_decoded_bytes, wbits=15)
    raise IngestError(415, f"Content-Encoding {encoding!r} is not supported "
                           f"(use gzip, deflate or none)")


def inflate(body: bytes, max_bytes: int, wbits: int = 31) -> bytes:
    """Decompress gzip (possibly several members; ``wbits=15`` for zlib) without inflating
    past ``max_bytes``."""
    out: list[bytes] = []
    total = 0
    data = body
    try:
        while data:
            d = zlib.decompressobj(wbits=wbits)
            part = d.decompress(data, max_bytes - total + 1)
            total += len(part)
            out.append(part)
            if total > max_bytes or d.unconsumed_tail:
                raise IngestError(413, f"decompressed body exceeds the limit of {max_bytes} "
                                       f"bytes")
            if not d.eof:
                raise IngestError(400, "compressed body is truncated")
            data = d.unused_data
    except zlib.error as e:
        raise IngestError(400, f"body is not valid {'gzip' if wbits == 31 else 'deflate'}: "
                               f"{e}") from None
    return b"".join(out)


# -- OTLP ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Signal:
    name: str  # traces | logs
    request: type
    response: type
    items: str  # noun for messages
    rejected_field: str

    def count(self, req: object) -> int:
        if self.name == "traces":
            return sum(len(ss.spans) for rs in req.resource_spans  # type: ignore[attr-defined]
                       for ss in rs.scope_spans)
        return sum(len(sl.log_records) for rl in req.resource_logs  # type: ignore[attr-defined]
                   for sl in rl.scope_logs)


TRACES = _Signal("traces", ExportTraceServiceRequest, ExportTraceServiceResponse, "spans",
                 "rejected_spans")
LOGS = _Signal("logs", ExportLogsServiceRequest, ExportLogsServiceResponse, "log records",
               "rejected_log_records")


def _is_protobuf(content_type: str) -> bool | None:
    """True for protobuf, False for JSON, None for anything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _PROTOBUF_TYPES:
        return True
    if media == JSON or media.endswith("+json"):
        return False
    return None


def decode_and_map(signal: _Signal, body: bytes, protobuf: bool, org: str,
                   limits: IngestLimits) -> tuple[Batch, pa.Table]:
    """Bytes -> rows (CPU-bound; runs in a worker thread).

    Protobuf bodies go straight from wire bytes to rows (``ingest.fast``: the compiled
    decoder, same rows as the reference mapping); JSON is parsed into messages first.
    """
    if protobuf:
        from_bytes = spans_from_bytes if signal.name == "traces" else logs_from_bytes
        try:
            batch, n = from_bytes(body, org, limits=limits.item)
        except (DecodeError, RuntimeError, ValueError) as e:
            raise IngestError(400, f"body is not a valid protobuf "
                                   f"{signal.request.__name__}: {e}") from None
        if n > limits.max_items:
            raise IngestError(413, f"request holds {n} {signal.items}; the limit is "
                                   f"{limits.max_items} per request")
        return batch, batch.table()
    try:
        req = parse_json(body, signal.request(), signal.name)
    except OtlpJsonError as e:
        raise IngestError(400, f"body is not a valid OTLP/JSON "
                               f"{signal.request.__name__}: {e}") from None
    n = signal.count(req)
    if n > limits.max_items:
        raise IngestError(413, f"request holds {n} {signal.items}; the limit is "
                               f"{limits.max_items} per request")
    to_rows = spans_to_rows if signal.name == "traces" else logs_to_rows
    batch = to_rows(req, org, limits=limits.item)
    return batch, batch.table()


def status_body(code: int, message: str, protobuf: bool) -> bytes:
    """A google.rpc.Status (code = 1, message = 2), encoded by hand: two scalar fields do
    not justify a dependency on googleapis-common-protos."""
    if not protobuf:
        import orjson

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


def _status_response(status: int, reason: str, protobuf: bool,
                     headers: dict[str, str] | None = None) -> Response:
    return Response(status_body(_RPC_CODE.get(status, 2), reason, protobuf), status_code=status,
                    media_type=PROTOBUF if protobuf else JSON, headers=headers)


def check_capacity(request: Request, limits: IngestLimits) -> None:
    """Refuse early when the writer is full, before spending CPU on decoding."""
    if services(request).writer.is_full():
        retry = str(limits.retry_after_s)
        raise IngestError(429, f"ingest queue is full; retry after {retry} s",
                          {"Retry-After": retry})


async def commit(request: Request, table: pa.Table, limits: IngestLimits) -> None:
    """Hand rows to the group-commit writer; return once they are durable."""
    try:
        await services(request).writer.write(table)
    except Overloaded as e:
        retry = str(max(e.retry_after, limits.retry_after_s))
        raise IngestError(429, f"ingest queue is full; retry after {retry} s",
                          {"Retry-After": retry}) from None
    except (StoreUnavailable, OSError) as e:  # a full disk, a failed store: one line
        log.warning("commit failed: %s", e)
        raise IngestError(503, "the rows could not be committed; retry later",
                          {"Retry-After": str(limits.retry_after_s)}) from None
    except Exception:
        log.exception("commit failed")
        raise IngestError(503, "the rows could not be committed; retry later",
                          {"Retry-After": str(limits.retry_after_s)}) from None


async def _export(request: Request, signal: _Signal) -> Response:
    protobuf = _is_protobuf(request.headers.get("content-type", ""))
    try:
        if protobuf is None:
            # The spec leaves the error encoding open here; JSON is the readable choice.
            raise IngestError(415, f"Content-Type must be {PROTOBUF} or {JSON}")
        principal = authenticate(request)
        limits = limits_of(request)
        check_capacity(request, limits)
        body = await read_body(request, limits)
        batch, table = await run_in_threadpool(decode_and_map, signal, body, protobuf,
                                               principal.org, limits)
        if batch.rows:
            await commit(request, table, limits)
    except IngestError as e:
        return _status_response(e.status, e.reason, bool(protobuf), e.headers)
    except Exception:
        log.exception("OTLP %s export failed", signal.name)
        return _status_response(500, "internal error", bool(protobuf))
    resp = signal.response()
    message = batch.message()
    if batch.rejected or message:
        ps = resp.partial_success
        setattr(ps, signal.rejected_field, batch.rejected)
        ps.error_message = message
    if protobuf:
        return Response(resp.SerializeToString(), media_type=PROTOBUF)
    return Response(message_to_json(resp), media_type=JSON)


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, gzip ok)",
             openapi_extra=raw_body(
    "An OTLP ExportTraceServiceRequest, protobuf or JSON; Content-Encoding gzip or deflate",
    {"application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
     "application/json": {"schema": {"type": "object"}}}))
async def export_traces(request: Request) -> Response:
    return await _export(request, TRACES)


@router.post("/v1/logs", summary="OTLP/HTTP log export (protobuf or JSON, gzip ok)",
             openapi_extra=raw_body(
    "An OTLP ExportLogsServiceRequest, protobuf or JSON; Content-Encoding gzip or deflate",
    {"application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
     "application/json": {"schema": {"type": "object"}}}))
async def export_logs(request: Request) -> Response:
    return await _export(request, LOGS)


def _format(status: int, problems: list[tuple[str | None, str]], code: str | None,
            headers: dict[str, str], extra: dict[str, object]) -> Response:
    """Errors raised outside the handlers (unknown method, ...) as a JSON google.rpc.Status."""
    reason = "; ".join(f"{f}: {r}" if f else r for f, r in problems) or "error"
    return _status_response(status, reason, False, headers)


def install(app: FastAPI) -> None:
    app.include_router(router)
    status = {"type": "object", "required": ["code", "message"],  # google.rpc.Status
              "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}}
    errors.register_formatter("/v1/traces", _format, status)
    errors.register_formatter("/v1/logs", _format, status)
    from telequery.api import ndjson

    ndjson.install(app)
