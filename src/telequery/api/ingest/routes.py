"""``POST /v1/traces``, ``POST /v1/logs`` (OTLP/HTTP) and ``POST /v1/events`` (NDJSON).

OTLP follows the OTLP/HTTP spec (opentelemetry-proto, docs/specification.md): a body is an
Export*ServiceRequest in binary protobuf or JSON, optionally gzip-encoded; 400 for a
malformed body, 401/403 for auth, 413 for size limits, 415 for an unsupported content
type or encoding, and 429/503 with ``Retry-After`` (retryable for the stock exporters)
when the writer is full or a commit failed. NDJSON keeps the valid lines of a request
and reports the others by line number (400 when none was valid). A request is answered
only once its rows are durable: in the fsynced ingest log on DuckDB, verified stored on
ClickHouse (``ingest.writer``, docs/ingest.md).

Decoding and mapping run in a worker thread so the event loop keeps reading sockets while
the CPU-bound part of the previous request runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api.deps import services
from telequery.api.ingest.errors import JSON, PROTOBUF, IngestError, events_error, status_response
from telequery.api.ingest.request import (
    EVENTS_MEDIA,
    LOGS,
    TRACES,
    Signal,
    authenticate,
    check_capacity,
    commit,
    decode_lines,
    decode_signal,
    is_protobuf,
    limits_of,
    log,
    read_body,
)
from telequery.api.ingest.response import events_response, export_response, line_errors
from telequery.api.openapi import raw_body

router = APIRouter(tags=["ingest"])


async def _export(request: Request, signal: Signal) -> Response:
    protobuf = is_protobuf(request.headers.get("content-type", ""))
    try:
        if protobuf is None:
            # The spec leaves the error encoding open here; JSON is the readable choice.
            raise IngestError(415, f"Content-Type must be {PROTOBUF} or {JSON}")
        principal = authenticate(request)
        limits = limits_of(request)
        check_capacity(request, limits)
        body = await read_body(request, limits)
        svc = services(request)
        batch, table = await run_in_threadpool(decode_signal, signal, body, protobuf,
                                               principal.org, limits, svc.prices.for_org,
                                               svc.redaction.for_org)
        if batch.rows:
            await commit(request, table, limits)
    except IngestError as e:
        return status_response(e.status, e.reason, bool(protobuf), e.headers)
    except Exception:
        log.exception("OTLP %s export failed", signal.name)
        return status_response(500, "internal error", bool(protobuf))
    return export_response(signal, batch, protobuf)


def _otlp_body(signal: Signal) -> dict[str, object]:
    return raw_body(f"An OTLP {signal.request.__name__}, protobuf or JSON; Content-Encoding "
                    "gzip or deflate",
                    {PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                     JSON: {"schema": {"type": "object"}}})


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, gzip ok)",
             openapi_extra=_otlp_body(TRACES))
async def export_traces(request: Request) -> Response:
    return await _export(request, TRACES)


@router.post("/v1/logs", summary="OTLP/HTTP log export (protobuf or JSON, gzip ok)",
             openapi_extra=_otlp_body(LOGS))
async def export_logs(request: Request) -> Response:
    return await _export(request, LOGS)


@router.post("/v1/events", summary="NDJSON events: one JSON object per line",
             openapi_extra=raw_body(
                 "One JSON object per line (gzip ok); an empty body writes nothing", {
                     "application/x-ndjson": {"schema": {"type": "string"}},
                     "text/plain": {"schema": {"type": "string"}}}, required=False))
async def ingest_events(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media not in EVENTS_MEDIA:
            raise IngestError(415, f"Content-Type {media!r} is not supported; send "
                                   f"application/x-ndjson")
        principal = authenticate(request)
        limits = limits_of(request)
        check_capacity(request, limits)
        body = await read_body(request, limits)
        svc = services(request)
        parsed, batch, table = await run_in_threadpool(decode_lines, body, principal.org,
                                                       limits, svc.prices.for_org,
                                                       svc.redaction.for_org)
        if batch.rows == 0 and parsed.rejected:
            raise IngestError(400, f"no valid line: {parsed.rejected} line(s) rejected",
                              lines=line_errors(parsed))
        if batch.rows:
            await commit(request, table, limits)
    except IngestError as e:
        return events_error(e)
    except Exception:
        log.exception("NDJSON ingest failed")
        return events_error(IngestError(500, "internal error"))
    return events_response(parsed, batch)
