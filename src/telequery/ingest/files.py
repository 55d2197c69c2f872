"""``telequery ingest FILE``: NDJSON events, or OTLP/JSON with one request per line.

The format is told from the first non-blank line: an object with ``resourceSpans`` or
``resourceLogs`` (either case) means OTLP/JSON (what the collector's file exporter
writes), anything else NDJSON events. ``.gz`` files are read through gzip. Rows go
through the same parsing and mapping as the HTTP endpoints and are appended in chunks.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from telequery.ingest.mapping import Batch, logs_to_rows, spans_to_rows
from telequery.ingest.ndjson import parse_lines
from telequery.ingest.otlp_json import OtlpJsonError, parse_dict

if TYPE_CHECKING:
    from telequery.store.base import Store

log = logging.getLogger("telequery.ingest")
CHUNK_ROWS = 50_000
_NDJSON_LINES = 10_000
_TRACE_KEYS = ("resourceSpans", "resource_spans")
_LOG_KEYS = ("resourceLogs", "resource_logs")


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _is_otlp(first: bytes) -> bool:
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(obj, dict) and any(k in obj for k in _TRACE_KEYS + _LOG_KEYS)


def _first_line(path: Path) -> bytes:
    with _open(path) as f:
        for line in f:
            if line.strip():
                return line
    return b""


class _Sink:
    """Appends mapped rows to the store in chunks of about CHUNK_ROWS."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch = Batch()
        self.written = 0
        self.rejected = 0

    def flush(self, force: bool = False) -> None:
        if self.batch.rows and (force or self.batch.rows >= CHUNK_ROWS):
            self.written += self.store.append(self.batch.table())
            self.rejected += self.batch.rejected
            for reason in self.batch.reasons:
                log.warning("rejected: %s", reason)
            self.batch = Batch()
        elif force:
            self.rejected += self.batch.rejected


def _otlp_lines(f: IO[bytes], org: str, sink: _Sink) -> None:
    for n, raw in enumerate(f, start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
            if isinstance(obj, dict) and any(k in obj for k in _TRACE_KEYS):
                spans_to_rows(parse_dict(obj, ExportTraceServiceRequest(), "traces"), org,
                              batch=sink.batch)
            elif isinstance(obj, dict) and any(k in obj for k in _LOG_KEYS):
                logs_to_rows(parse_dict(obj, ExportLogsServiceRequest(), "logs"), org,
                             batch=sink.batch)
            else:
                raise OtlpJsonError("not an OTLP traces or logs request")
        except (orjson.JSONDecodeError, OtlpJsonError) as e:
            log.warning("line %d rejected: %s", n, e)
            sink.rejected += 1
            continue
        sink.flush()


def _chunks(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Groups of lines with the number of the group's first line."""
    lines: list[bytes] = []
    start = 1
    for n, raw in enumerate(f, start=1):
        lines.append(raw.rstrip(b"\r\n"))
        if len(lines) >= _NDJSON_LINES:
            yield start, b"\n".join(lines)
            lines, start = [], n + 1
    if lines:
        yield start, b"\n".join(lines)


def _ndjson(f: IO[bytes], org: str, sink: _Sink) -> None:
    for first, data in _chunks(f):
        parsed = parse_lines(data, first_line=first)
        for n, reason in parsed.errors:
            log.warning("line %d rejected: %s", n, reason)
        sink.rejected += parsed.rejected
        logs_to_rows(parsed.request, org, batch=sink.batch)
        sink.flush()


def ingest_file(store: Store, org: str, path: Path | str) -> tuple[int, int]:
    """Ingest ``path`` for ``org``; return (rows written, items or lines rejected)."""
    path = Path(path)
    sink = _Sink(store)
    otlp = _is_otlp(_first_line(path))
    with _open(path) as f:
        (_otlp_lines if otlp else _ndjson)(f, org, sink)
    sink.flush(force=True)
    return sink.written, sink.rejected


def post_file(url: str, token: str, path: Path | str,
              progress: Callable[[int], None] | None = None, *,
              retries: int = 20) -> tuple[int, int]:
    """Send ``path`` to a running server, as an exporter would; (written, rejected).

    NDJSON goes to ``/v1/events`` in chunks of lines, OTLP/JSON lines to ``/v1/traces``
    or ``/v1/logs`` one request a line. 429 and 503 are retried after ``Retry-After``;
    any other error stops with ``PostError`` naming the status and the server's reason.
    ``progress`` gets the bytes of the file sent so far, chunk by chunk.
    """
    import httpx

    path = Path(path)
    base = url.rstrip("/")
    headers = {"authorization": f"Bearer {token}"}
    written = rejected = 0
    with httpx.Client(timeout=120, headers=headers) as http:
        def send(route: str, body: bytes, content_type: str) -> httpx.Response:
            for _ in range(retries):
                r = http.post(base + route, content=body,
                              headers={"content-type": content_type})
                if r.status_code not in (429, 503):
                    break
                time.sleep(min(30.0, float(r.headers.get("retry-after", "1") or 1)))
            if r.status_code >= 400 and not (route == "/v1/events" and r.status_code == 400):
                raise PostError(f"{route}: HTTP {r.status_code}: {r.text[:300]}")
            return r

        with _open(path) as f:
            if _is_otlp(_first_line(path)):
                for raw in f:
                    if progress:
                        progress(len(raw))
                    if not raw.strip():
                        continue
                    obj = orjson.loads(raw)
                    traces = any(k in obj for k in _TRACE_KEYS)
                    items = _count_items(obj, traces)
                    r = send("/v1/traces" if traces else "/v1/logs", raw, "application/json")
                    partial = r.json().get("partialSuccess") or r.json().get(
                        "partial_success") or {}
                    bad = int(partial.get("rejectedSpans" if traces else "rejectedLogRecords",
                                          0) or 0)
                    written += items - bad
                    rejected += bad
            else:
                for _, data in _chunks(f):
                    r = send("/v1/events", data, "application/x-ndjson")
                    answer = r.json()
                    written += int(answer.get("written", 0) or 0)
                    rejected += int(answer.get("rejected", 0) or len(answer.get("lines", [])))
                    if progress:
                        progress(len(data) + data.count(b"\n") + 1)
    return written, rejected


class PostError(RuntimeError):
    """The server refused a request for a reason retrying does not fix."""


def _count_items(obj: dict, traces: bool) -> int:
    outer, middle, inner = (("resourceSpans", "scopeSpans", "spans") if traces else
                            ("resourceLogs", "scopeLogs", "logRecords"))
    snake = {"resourceSpans": "resource_spans", "scopeSpans": "scope_spans",
             "resourceLogs": "resource_logs", "scopeLogs": "scope_logs",
             "logRecords": "log_records", "spans": "spans"}

    def get(o: dict, k: str) -> list:
        return o.get(k) or o.get(snake[k]) or []

    return sum(len(get(s, inner)) for r in get(obj, outer) for s in get(r, middle))
