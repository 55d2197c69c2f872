"""Successful ingest answers: the OTLP Export*ServiceResponse in the request's encoding
(``partial_success`` when items were rejected or values truncated), and the NDJSON
summary ``{"written", "rejected", "truncated", "lines", "message"}``."""

from __future__ import annotations

from fastapi.responses import Response

from telequery.api.ingest.errors import JSON, PROTOBUF, events_json
from telequery.api.ingest.request import Signal
from telequery.ingest.mapping import Batch
from telequery.ingest.ndjson import Parsed
from telequery.ingest.otlp_json import message_to_json


def export_response(signal: Signal, batch: Batch, protobuf: bool) -> Response:
    resp = signal.response()
    message = batch.message()
    if batch.rejected or message:
        ps = resp.partial_success
        setattr(ps, signal.rejected_field, batch.rejected)
        ps.error_message = message
    if protobuf:
        return Response(resp.SerializeToString(), media_type=PROTOBUF)
    return Response(message_to_json(resp), media_type=JSON)


def line_errors(parsed: Parsed) -> list[dict]:
    return [{"line": n, "error": reason} for n, reason in parsed.errors]


def events_response(parsed: Parsed, batch: Batch) -> Response:
    rejected = parsed.rejected + batch.rejected
    message = batch.message()
    if parsed.rejected:
        message = f"{parsed.rejected} line(s) rejected" + (f". {message}" if message else "")
    return events_json({"written": batch.rows, "rejected": rejected,
                        "truncated": batch.truncated, "lines": line_errors(parsed),
                        "message": message})
