"""Bulk loading of OTLP messages (demo data, benchmarks, ``telequery ingest``).

Goes through the same mapping as the HTTP endpoints, so loaded rows equal ingested ones;
it only skips HTTP and the group-commit queue, appending large batches directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telequery.ingest.fast import NATIVE, logs_from_bytes, spans_from_bytes
from telequery.ingest.mapping import Batch, logs_to_rows, spans_to_rows

if TYPE_CHECKING:
    from telequery.store.base import Store

Message = ExportTraceServiceRequest | ExportLogsServiceRequest


def map_message(msg: Message, org: str, batch: Batch | None = None) -> Batch:
    """Map one OTLP request of either signal into ``batch``.

    With the compiled decoder, serializing and decoding the wire bytes is several times
    cheaper than walking the message objects, and gives the same rows.
    """
    if isinstance(msg, ExportTraceServiceRequest):
        if NATIVE:
            return spans_from_bytes(msg.SerializeToString(), org, batch=batch)[0]
        return spans_to_rows(msg, org, batch=batch)
    if NATIVE:
        return logs_from_bytes(msg.SerializeToString(), org, batch=batch)[0]
    return logs_to_rows(msg, org, batch=batch)


def load(store: Store, org: str, messages: Iterable[Message], *, chunk_rows: int = 100_000,
         progress: Callable[[int], None] | None = None) -> int:
    """Map and append messages in chunks of about ``chunk_rows``; return rows written."""
    total = 0
    batch = Batch()
    for msg in messages:
        map_message(msg, org, batch)
        if batch.rows >= chunk_rows:
            total += store.append(batch.table())
            if progress:
                progress(batch.rows)
            batch = Batch()
    if batch.rows:
        total += store.append(batch.table())
        if progress:
            progress(batch.rows)
    return total
