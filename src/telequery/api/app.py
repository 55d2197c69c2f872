"""The ASGI app: every API mounted on one FastAPI application."""

from __future__ import annotations

import logging
import threading
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from telequery import __version__
from telequery.api import errors
from telequery.api.deps import Services, freshness_lag_ms
from telequery.api.guard import BodyGuard
from telequery.destinations.egress import EgressPolicy
from telequery.destinations.exporter import DESTINATIONS_DIR, Exporter
from telequery.ingest.writer import Writer, open_writer
from telequery.prices import PriceBook
from telequery.redaction import PolicyBook
from telequery.retention import RetentionLoop
from telequery.store.base import read_your_writes, request_deadline

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp, Receive, Scope, Send

    from telequery.meta import Meta
    from telequery.store.base import Store


log = logging.getLogger(__name__)
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


class IdleTrim:
    """A thread that asks the store to give cached memory back once it has been idle
    (``DuckDBStore.trim_if_idle``, ``ClickHouseStore.trim_if_idle`` on chDB; stores
    without it are left alone), so RSS returns
    toward its resting level after a burst of load (docs/performance.md)."""

    def __init__(self, store: Store, idle_seconds: float = 30.0, every: float = 5.0) -> None:
        self.trim = getattr(store, "trim_if_idle", None)
        self.idle_seconds, self.every = idle_seconds, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.trim is not None:
            self._thread = threading.Thread(target=self._loop, name="telequery-trim",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.trim(self.idle_seconds)  # type: ignore[misc]
            except Exception:  # never let a trim take the server down
                log.exception("memory trim failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


RYW_HEADER = b"x-telequery-read-your-writes"
FRESHNESS_HEADER = b"x-telequery-freshness-lag-ms"
RYW_DEFAULT_WAIT = 10.0  # seconds a read-your-writes request waits, unless it says
RYW_MAX_WAIT = 60.0


def ryw_wait(value: bytes | None, default: float | None) -> float | None:
    """The read-your-writes wait a request asked for: ``true``/``1``/``yes`` waits
    ``RYW_DEFAULT_WAIT`` s, a number of seconds (up to ``RYW_MAX_WAIT``) that long,
    ``false``/``0``/``no`` not at all; no header: the server's default."""
    if value is None:
        return default
    text = value.decode("latin-1").strip().lower()
    if text in ("false", "no", "off", "0", ""):
        return None
    try:
        seconds = float(text)
    except ValueError:
        return RYW_DEFAULT_WAIT
    if not seconds > 0:  # nan, negatives
        return None
    return min(seconds, RYW_MAX_WAIT)


class Consistency:
    """Pure ASGI middleware: what a request's statements wait for, and how fresh it was.

    By default a query reads what the store has applied and never waits on ingest; a
    request with ``X-Telequery-Read-Your-Writes`` (or a server started with
    ``--read-your-writes``) sees every row acknowledged before it, waiting up to the stated
    seconds. Every response says ``X-Telequery-Freshness-Lag-Ms``: how long the oldest
    acknowledged row that queries do not see yet had waited (0: they see all of them).
    """

    def __init__(self, app: ASGIApp, writer: Writer, default: float | None) -> None:
        self.app, self.writer, self.default = app, writer, default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = next((v for k, v in scope["headers"] if k == RYW_HEADER), None)
        wait = ryw_wait(asked, self.default)

        async def send_with_freshness(message: dict) -> None:
            if message["type"] == "http.response.start":
                lag = round(freshness_lag_ms(self.writer, wait))
                message = {**message, "headers": [*message.get("headers", []),
                                                  (FRESHNESS_HEADER, str(lag).encode())]}
            await send(message)

        with read_your_writes(wait):
            await self.app(scope, receive, send_with_freshness)


def create_app(store: Store, meta: Meta, *, writer: Writer | None = None,
               apply_delay: float = 1.0, retention_days: float | None = None,
               retention_every: float | None = None,
               request_timeout: float = REQUEST_TIMEOUT,
               read_your_writes: float | None = None,
               destinations_allow: tuple[str, ...] = ()) -> FastAPI:
    """Build the app over an open store and metadata; the caller owns their lifetime.

    Without a ``writer`` the app makes one and closes it at shutdown (in the lifespan:
    uvicorn re-raises SIGTERM after serving, so code after ``uvicorn.run`` may not run).
    Retention sweeps run every ``retention_every`` seconds (the rules are in ``meta``;
    ``retention_days`` is the default window); without it, only on request.
    ``read_your_writes``: seconds every request waits for the rows acknowledged before it
    (None: requests read what is applied unless they ask, see ``Consistency``).
    ``destinations_allow``: CIDR ranges destinations may reach beyond public addresses.
    """
    own_writer = writer is None
    # destinations' spools live beside the metadata that defines them
    exporter = Exporter(Path(meta.path).parent / DESTINATIONS_DIR,
                        policy=EgressPolicy.of(destinations_allow))
    services = Services(store, meta, writer or open_writer(store, apply_delay=apply_delay),
                        exporter, PriceBook(meta), PolicyBook(meta),
                        RetentionLoop(store, meta, retention_days, retention_every or 3600.0))
    services.writer.outboxes.append(exporter.spool)

    trim = IdleTrim(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if retention_every and services.retention:
            services.retention.start()
        trim.start()
        exporter.load(meta)
        async with AsyncExitStack() as stack:
            for enter in app.state.lifespan_contexts:  # what API packages run (MCP)
                await stack.enter_async_context(enter())
            yield
        if services.retention:
            services.retention.stop()
        trim.stop()
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
    app.add_middleware(Consistency, writer=services.writer, default=read_your_writes)
    return app
