"""The ASGI app: every API mounted on one FastAPI application."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from telequery import __version__
from telequery.api import errors
from telequery.api.deps import Services
from telequery.api.guard import BodyGuard
from telequery.destinations.exporter import DESTINATIONS_DIR, Exporter
from telequery.ingest.writer import Writer, open_writer
from telequery.prices import PriceBook
from telequery.redaction import PolicyBook
from telequery.retention import RetentionLoop
from telequery.store.base import request_deadline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp, Receive, Scope, Send

    from telequery.meta import Meta
    from telequery.store.base import Store


REQUEST_TIMEOUT = 30.0  # seconds for every statement of one request together


class RequestDeadline:
    """Pure ASGI middleware: every statement of a request shares one deadline."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with request_deadline(self.seconds):
            await self.app(scope, receive, send)


def create_app(store: Store, meta: Meta, *, writer: Writer | None = None,
               apply_delay: float = 1.0, retention_days: float | None = None,
               retention_every: float | None = None,
               request_timeout: float = REQUEST_TIMEOUT) -> FastAPI:
    """Build the app over an open store and metadata; the caller owns their lifetime.

    Without a ``writer`` the app makes one and closes it at shutdown (in the lifespan:
    uvicorn re-raises SIGTERM after serving, so code after ``uvicorn.run`` may not run).
    Retention sweeps run every ``retention_every`` seconds (the rules are in ``meta``;
    ``retention_days`` is the default window); without it, only on request.
    """
    own_writer = writer is None
    # destinations' spools live beside the metadata that defines them
    exporter = Exporter(Path(meta.path).parent / DESTINATIONS_DIR)
    services = Services(store, meta, writer or open_writer(store, apply_delay=apply_delay),
                        exporter, PriceBook(meta), PolicyBook(meta),
                        RetentionLoop(store, meta, retention_days, retention_every or 3600.0))
    services.writer.outboxes.append(exporter.spool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if retention_every and services.retention:
            services.retention.start()
        exporter.load(meta)
        async with AsyncExitStack() as stack:
            for enter in app.state.lifespan_contexts:  # what API packages run (MCP)
                await stack.enter_async_context(enter())
            yield
        if services.retention:
            services.retention.stop()
        app.state.stop_queries()  # queries still running past the grace period
        if own_writer:
            services.writer.close()
        exporter.close()  # after the writer: what it acknowledged last is spooled

    app = FastAPI(title="telequery", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served by api/ui.py from local assets
                  description="Telemetry query engine: OTLP ingest; Workers Observability, "
                              "gateway metrics and reports APIs.")
    app.state.services = services
    # context-manager factories an API package needs open while serving (install adds)
    app.state.lifespan_contexts = []
    # called by the server on SIGTERM (cli.run_server), before the grace period starts
    app.state.stop_queries = getattr(store, "interrupt_all", lambda: None)
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, object]:
        """Liveness: the process answers. Whether it can serve is ``/readyz``."""
        return {"status": "ok", "version": __version__, "engine": store.dialect.name}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        """Readiness: the store answers a query with every acknowledged row applied, the
        ingest log and the store take writes, the backlog is below its bound."""
        problems = services.readiness()
        if problems:
            return JSONResponse({"status": "unready", "problems": problems}, status_code=503,
                                headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "engine": store.dialect.name})

    from telequery.api import metrics, openapi, routers

    for router in routers.ALL:
        router.install(app)
    metrics.install(app, services)
    openapi.install(app)
    app.add_middleware(BodyGuard, meta=meta)
    app.add_middleware(RequestDeadline, seconds=request_timeout)
    return app
