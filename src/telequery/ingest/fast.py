"""OTLP protobuf bytes -> rows: the compiled decoder when built, else the reference path.

``ingest._fastotlp`` (Cython) reads the wire bytes directly and adds to the batch an Arrow
table equal to what ``mapping.spans_to_rows`` / ``mapping.logs_to_rows`` make
(tests/test_ingest_native.py), without protobuf objects and, for common spans, without a
Python object per value. Bodies it does not handle itself (groups, deep nesting, invalid
data) go through upb + the reference mapping, which also produces the DecodeError for a
malformed body.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telequery.ingest.mapping import (
    DEFAULT_DATASET,
    Batch,
    Limits,
    logs_to_rows,
    random_id_suffix,
    spans_to_rows,
)

try:
    from telequery.ingest import _fastotlp
except ImportError:  # extension not built: the reference path does everything
    _fastotlp = None

NATIVE = _fastotlp is not None


def _target(batch: Batch | None, limits: Limits | None) -> Batch:
    """As ``mapping._batch``: the batch to add to, with ``limits`` (else its own) in force."""
    out = batch if batch is not None else Batch(limits)
    out.limits = limits or out.limits
    return out


def _merge(into: Batch, part: Batch) -> Batch:
    for table in part.parts:
        into.add_table(table)
    into.row_list.extend(part.row_list)
    into.truncated += part.truncated
    for reason in part.reasons:
        into.reject(reason)
    into.rejected += part.rejected - len(part.reasons)
    return into


def spans_from_bytes(body: bytes, org: str, *, batch: Batch | None = None,
                     limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET,
                     native: bool = NATIVE) -> tuple[Batch, int]:
    """Rows of an ExportTraceServiceRequest body, and the number of spans it holds.

    Raises ``google.protobuf.message.DecodeError`` (or ValueError) for a malformed body.
    """
    out = _target(batch, limits)
    part = Batch(out.limits)
    if native:
        try:
            n = _fastotlp.spans(body, org, part, default_dataset)
            return _merge(out, part), n
        except (_fastotlp.WireError, UnicodeDecodeError):
            part = Batch(out.limits)
    req = ExportTraceServiceRequest.FromString(body)
    spans_to_rows(req, org, batch=part, default_dataset=default_dataset)
    n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    return _merge(out, part), n


def logs_from_bytes(body: bytes, org: str, *, batch: Batch | None = None,
                    limits: Limits | None = None, default_dataset: str = DEFAULT_DATASET,
                    id_suffix: Callable[[], str] = random_id_suffix,
                    native: bool = NATIVE) -> tuple[Batch, int]:
    """Rows of an ExportLogsServiceRequest body, and the number of log records it holds."""
    out = _target(batch, limits)
    part = Batch(out.limits)
    if native:
        try:
            n = _fastotlp.logs(body, org, part, default_dataset, id_suffix)
            return _merge(out, part), n
        except (_fastotlp.WireError, UnicodeDecodeError):
            part = Batch(out.limits)
    req = ExportLogsServiceRequest.FromString(body)
    logs_to_rows(req, org, batch=part, default_dataset=default_dataset, id_suffix=id_suffix)
    n = sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    return _merge(out, part), n
