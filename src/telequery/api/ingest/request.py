"""What every ingest request goes through before its rows are written: limits, the token,
a bounded (and un-gzipped) body, and the decoding of OTLP protobuf/JSON or NDJSON lines
into rows (CPU-bound: called in a worker thread). Then ``commit`` hands the rows to the
writer and returns once they are durable.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from telequery.api.deps import services
from telequery.api.ingest.errors import JSON, PROTOBUF, IngestError
from telequery.destinations.egress import EXPORTED_HEADER
from telequery.ingest.content import PolicyFor
from telequery.ingest.enrich import Overrides
from telequery.ingest.fast import logs_from_bytes, spans_from_bytes
from telequery.ingest.mapping import Batch, Limits, logs_to_rows, spans_to_rows
from telequery.ingest.ndjson import LineError, Parsed, parse_lines
from telequery.ingest.otlp_json import OtlpJsonError, parse_json
from telequery.ingest.writer import Overloaded
from telequery.schema import mark_exported
from telequery.store.base import StoreUnavailable

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.meta import Principal

log = logging.getLogger("telequery.ingest")
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"}
EVENTS_MEDIA = {"application/x-ndjson", "application/ndjson", "application/jsonl",
                "application/x-jsonlines", "application/json", "text/plain", ""}


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


@dataclass(frozen=True)
class Signal:
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


TRACES = Signal("traces", ExportTraceServiceRequest, ExportTraceServiceResponse, "spans",
                 "rejected_spans")
LOGS = Signal("logs", ExportLogsServiceRequest, ExportLogsServiceResponse, "log records",
               "rejected_log_records")


def is_protobuf(content_type: str) -> bool | None:
    """True for protobuf, False for JSON, None for anything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _PROTOBUF_TYPES:
        return True
    if media == JSON or media.endswith("+json"):
        return False
    return None


def decode_signal(signal: Signal, body: bytes, protobuf: bool, org: str,
                   limits: IngestLimits, overrides: Overrides | None = None,
                   redaction: PolicyFor | None = None) -> tuple[Batch, pa.Table]:
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
        batch.overrides, batch.redaction = overrides, redaction
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
    batch.overrides, batch.redaction = overrides, redaction
    return batch, batch.table()


def check_capacity(request: Request, limits: IngestLimits) -> None:
    """Refuse early when the writer is full, before spending CPU on decoding."""
    if services(request).writer.is_full():
        retry = str(limits.retry_after_s)
        raise IngestError(429, f"ingest queue is full; retry after {retry} s",
                          {"Retry-After": retry})


async def commit(request: Request, table: pa.Table, limits: IngestLimits) -> None:
    """Hand rows to the group-commit writer; return once they are durable. Rows a
    telequery exported to us are stored and never exported again (no loop)."""
    if request.headers.get(EXPORTED_HEADER):
        table = mark_exported(table)
    try:
        await services(request).writer.write(table)
    except Overloaded as e:
        retry = str(max(e.retry_after, limits.retry_after_s))
        raise IngestError(429, f"ingest queue is full; retry after {retry} s",
                          {"Retry-After": retry}) from None
    except Exception as e:
        if isinstance(e, (StoreUnavailable, OSError)):  # a full disk, a failed store
            log.warning("commit failed: %s", e)
        else:
            log.exception("commit failed")
        raise IngestError(503, "the rows could not be committed; retry later",
                          {"Retry-After": str(limits.retry_after_s)}) from None


def decode_lines(body: bytes, org: str, limits: IngestLimits,
                 overrides: Overrides | None = None, redaction: PolicyFor | None = None
                 ) -> tuple[Parsed, Batch, pa.Table]:
    """NDJSON lines -> LogRecords -> rows through the OTLP log mapping (a worker thread)."""
    try:
        parsed = parse_lines(body, max_items=limits.max_items)
    except LineError as e:
        raise IngestError(413, str(e)) from None
    batch = logs_to_rows(parsed.request, org, limits=limits.item)
    batch.overrides, batch.redaction = overrides, redaction
    return parsed, batch, batch.table()
