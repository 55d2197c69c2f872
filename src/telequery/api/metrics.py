"""``/metrics`` in Prometheus text format, and the middleware that counts requests.

Request counts and latencies are recorded per route template (``/v1/traces``, not the
URL), so label cardinality is bounded by the app's routes. Ingest, log depth, store bytes
and retention are read from the writer, store and retention loop at scrape time: nothing
on the ingest path pays for them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from telequery.api.deps import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NOT_QUERIES = ("/v1/", "/healthz", "/readyz", "/metrics")  # no query latency for these


class _Collector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        w, svc = self.services.writer, self.services
        for name, value, doc in (
                ("telequery_ingest_rows_acknowledged", w.acked_rows,
                 "rows acknowledged to clients (durable in the ingest log or the store)"),
                ("telequery_ingest_bytes_acknowledged", w.acked_bytes,
                 "Arrow bytes of the rows acknowledged"),
                ("telequery_ingest_rows_applied", w.applied_rows,
                 "acknowledged rows written to the table"),
                ("telequery_ingest_rejected_batches", w.rejected_batches,
                 "batches refused: queue full, store or log failing, rows not matching"),
                ("telequery_retention_deleted_rows",
                 svc.retention.deleted_total if svc.retention else 0,
                 "rows deleted by retention sweeps")):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily("telequery_ingest_log_depth_rows",
                                "rows acknowledged or queued but not yet in the table",
                                value=w.pending_rows)
        yield GaugeMetricFamily("telequery_freshness_lag_ms",
                                "age of the oldest acknowledged row queries do not see yet "
                                "(0: they see every acknowledged row)", value=w.lag_ms())
        try:
            size = svc.store.bytes_on_disk()
        except Exception:  # a failed store: the gauge is absent, /readyz says why
            size = None
        if size is not None:
            yield GaugeMetricFamily("telequery_store_bytes", "bytes the store uses on disk",
                                    value=size)
        yield GaugeMetricFamily("telequery_ready", "1 when /readyz would answer 200",
                                value=0 if svc.readiness() else 1)


class Metrics:
    """One registry per app (tests run several apps in one process)."""

    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("telequery_http_requests", "HTTP requests by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("telequery_query_duration_seconds",
                                 "query requests (every API but ingest), start to last byte",
                                 ["route"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.registry.register(_Collector(services))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): counts every request once its answer started."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            if not route.startswith(_NOT_QUERIES) and route != "unmatched":
                self.metrics.latency.labels(route).observe(time.perf_counter() - t0)


def install(app: FastAPI, services: Services) -> Metrics:
    metrics = Metrics(services)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE: {}}}})
    def prometheus() -> Response:
        """Prometheus text format: requests, query latency, ingest, log depth, store."""
        return metrics.render()

    return metrics
