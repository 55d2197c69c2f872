"""``POST /v1/events``: plain JSON events, one object per line (see ``ingest.ndjson``).

200 answers ``{"written", "rejected", "lines": [{"line", "error"}], "message"}``; errors
answer ``{"error": reason, "lines": [...]}`` with the request's status (400 when no line
was valid, 401/403, 413, 415, 429/503 with ``Retry-After``). Valid lines are kept even
when others are rejected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from telequery.api import errors
from telequery.api.openapi import raw_body
from telequery.api.otlp import (
    IngestError,
    IngestLimits,
    authenticate,
    check_capacity,
    commit,
    limits_of,
    log,
    read_body,
)
from telequery.ingest.mapping import Batch, logs_to_rows
from telequery.ingest.ndjson import LineError, Parsed, parse_lines

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(tags=["ingest"])
_MEDIA = {"application/x-ndjson", "application/ndjson", "application/jsonl",
          "application/x-jsonlines", "application/json", "text/plain", ""}


def _json(body: object, status_code: int = 200, headers: dict[str, str] | None = None
          ) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, headers=headers,
                    media_type="application/json")


def _lines(parsed: Parsed) -> list[dict]:
    return [{"line": n, "error": reason} for n, reason in parsed.errors]


def decode_and_map(body: bytes, org: str, limits: IngestLimits
                   ) -> tuple[Parsed, Batch, pa.Table]:
    """Lines -> LogRecords -> rows through the OTLP log mapping (in a worker thread)."""
    try:
        parsed = parse_lines(body, max_items=limits.max_items)
    except LineError as e:
        raise IngestError(413, str(e)) from None
    batch = logs_to_rows(parsed.request, org, limits=limits.item)
    return parsed, batch, batch.table()


def _error(e: IngestError) -> Response:
    return _json({"error": e.reason, "lines": e.lines}, status_code=e.status,
                          headers=e.headers)


@router.post("/v1/events", summary="NDJSON events: one JSON object per line",
             openapi_extra=raw_body(
                 "One JSON object per line (gzip ok); an empty body writes nothing", {
                     "application/x-ndjson": {"schema": {"type": "string"}},
                     "text/plain": {"schema": {"type": "string"}}}, required=False))
async def ingest_events(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media not in _MEDIA:
            raise IngestError(415, f"Content-Type {media!r} is not supported; send "
                                   f"application/x-ndjson")
        principal = authenticate(request)
        limits = limits_of(request)
        check_capacity(request, limits)
        body = await read_body(request, limits)
        parsed, batch, table = await run_in_threadpool(decode_and_map, body, principal.org, limits)
        if batch.rows == 0 and parsed.rejected:
            raise IngestError(400, f"no valid line: {parsed.rejected} line(s) rejected",
                              lines=_lines(parsed))
        if batch.rows:
            await commit(request, table, limits)
    except IngestError as e:
        return _error(e)
    except Exception:
        log.exception("NDJSON ingest failed")
        return _error(IngestError(500, "internal error"))
    rejected = parsed.rejected + batch.rejected
    message = batch.message()
    if parsed.rejected:
        message = f"{parsed.rejected} line(s) rejected" + (f". {message}" if message else "")
    return _json({"written": batch.rows, "rejected": rejected,
                           "truncated": batch.truncated, "lines": _lines(parsed),
                           "message": message})


def _format(status: int, problems: list[tuple[str | None, str]], code: str | None,
            headers: dict[str, str], extra: dict[str, object]) -> Response:
    reason = "; ".join(f"{f}: {r}" if f else r for f, r in problems) or "error"
    return _json({"error": reason, "lines": []}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    app.include_router(router)
    errors.register_formatter("/v1/events", _format, {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "lines": {"type": "array", "items": {
            "type": "object", "properties": {"line": {"type": "integer"},
                                             "error": {"type": "string"}}}}}})
