"""Each API answers errors in its own envelope; this module routes them by path prefix.

An API registers a formatter for its prefix. Request validation errors, unknown routes,
query errors and unexpected exceptions anywhere under that prefix are rendered by it, so
no request ever sees FastAPI's default shape or a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telequery.query import QueryError
from telequery.store.base import StatementStopped, StoreUnavailable

log = logging.getLogger("telequery.api")


class ApiError(Exception):
    """An error an adapter raises on purpose: status, the field at fault, and why."""

    def __init__(self, status: int, reason: str, field: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None,
                 extra: dict[str, object] | None = None,
                 more: list[tuple[str | None, str]] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}
        self.more = more or []  # further problems, for envelopes that list them all

    @property
    def problems(self) -> list[tuple[str | None, str]]:
        return [(self.field, self.reason), *self.more]


# (status, problems [(field, reason)], code, headers, extra) -> Response
Formatter = Callable[[int, list[tuple[str | None, str]], str | None, dict[str, str],
                      dict[str, object]], Response]

# (prefix, formatter, media type, JSON schema of the error body), longest prefix first
_FORMATTERS: list[tuple[str, Formatter, str, dict[str, object]]] = []

DEFAULT_ENVELOPE: dict[str, object] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["status", "details"],
        "properties": {
            "status": {"type": "integer"}, "code": {"type": ["string", "null"]},
            "details": {"type": "array", "items": {
                "type": "object", "properties": {"field": {"type": ["string", "null"]},
                                                 "reason": {"type": "string"}}}}}}}}


def register_formatter(prefix: str, formatter: Formatter,
                       envelope: dict[str, object] | None = None,
                       media_type: str = "application/json") -> None:
    """Errors under ``prefix`` are rendered by ``formatter``; ``envelope`` is the JSON
    schema of what it writes (the OpenAPI document declares it for every error status)."""
    _FORMATTERS.append((prefix, formatter, media_type, envelope or DEFAULT_ENVELOPE))
    _FORMATTERS.sort(key=lambda p: -len(p[0]))


def _registered(path: str) -> tuple[Formatter, str, dict[str, object]]:
    for prefix, formatter, media_type, envelope in _FORMATTERS:
        if path.startswith(prefix):
            return formatter, media_type, envelope
    return native_envelope, "application/json", DEFAULT_ENVELOPE


def envelope_for(path: str) -> tuple[str, dict[str, object]]:
    """(media type, JSON schema) of the error body answered under ``path``."""
    return _registered(path)[1:]


def native_envelope(status: int, problems: list[tuple[str | None, str]], code: str | None,
             headers: dict[str, str], extra: dict[str, object]) -> Response:
    return JSONResponse({"error": {"status": status, "code": code,
                                   "details": [{"field": f, "reason": r} for f, r in problems]}},
                        status_code=status, headers=headers)


def formatter_for(path: str) -> Formatter:
    return _registered(path)[0]


def _loc(loc: tuple) -> str:
    # Only the first element names the source; a body field may itself be called "query".
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(str(p) for p in loc) or "body"


class CatchAll:
    """Answer an unexpected exception with the API's 500 envelope and keep the connection.

    Starlette's handler for ``Exception`` sits in ``ServerErrorMiddleware``, which re-raises
    after answering, so the server closed the connection and the client's next request on
    it was reset. This pure ASGI middleware, inside it, answers and does not re-raise
    (unless the answer had already started: then the connection must go)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:
                raise
            log.exception("unexpected error on %s", scope.get("path"))
            response = formatter_for(scope.get("path", ""))(
                500, [(None, "Internal error")], "internal_error", {}, {})
            await response(scope, receive, send)


def _allowed(request: Request) -> list[str]:
    """The methods the app's routes accept on this request's path (GET implies HEAD)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    app.add_middleware(CatchAll)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return formatter_for(request.url.path)(exc.status, exc.problems, exc.code,
                                               exc.headers, exc.extra)

    async def query_error(request: Request, exc: QueryError | StatementStopped) -> Response:
        """A query the engine refused (400s), stopped at its memory bound (400) or at its
        deadline (408)."""
        return formatter_for(request.url.path)(exc.status, [(exc.field, exc.reason)], exc.code,
                                               {}, {})

    app.add_exception_handler(QueryError, query_error)  # type: ignore[arg-type]
    app.add_exception_handler(StatementStopped, query_error)  # type: ignore[arg-type]

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> Response:
        return formatter_for(request.url.path)(503, [(None, exc.reason)], "unavailable",
                                               {"Retry-After": str(exc.retry_after)}, {})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [(_loc(tuple(e.get("loc", ()))), str(e.get("msg", "invalid")))
                    for e in exc.errors()]
        return formatter_for(request.url.path)(400, problems, "invalid_request", {}, {})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code,
                                                                   str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not just one route's
            headers["Allow"] = ", ".join(_allowed(request))
        return formatter_for(request.url.path)(exc.status_code, [(None, reason)], None,
                                               headers, {})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.url.path)
        return formatter_for(request.url.path)(500, [(None, "Internal error")],
                                               "internal_error", {}, {})
