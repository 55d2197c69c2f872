"""The MCP server at ``/mcp`` (Streamable HTTP, the official ``mcp`` SDK), for agents.

Modules as in every API package: ``routes`` (the tools, each a client of the public
APIs), ``request`` (arguments -> request bodies), ``response`` (compact bounded tables),
``errors`` (tool errors naming the argument). A request to ``/mcp`` needs a token with
the ``query`` scope (401/403 before any tool runs); each tool then calls the APIs with
that same token, so it sees that token's org only. docs/mcp.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route

from telequery.api import errors as api_errors
from telequery.api.deps import require, token_in
from telequery.api.errors import ApiError
from telequery.api.mcp.errors import ENVELOPE, PREFIXES, envelope
from telequery.api.mcp.routes import Api, build_server

if TYPE_CHECKING:
    from mcp.server.fastmcp import Context
    from starlette.types import Receive, Scope, Send


def _token(ctx: Context | None) -> str | None:
    request = ctx.request_context.request if ctx is not None else None
    return token_in(request.headers) if request is not None else None


class _Endpoint:
    """``/mcp``: authenticate, then hand the request to the MCP session manager."""

    def __init__(self, app: FastAPI, handle: object) -> None:
        self.app, self.handle = app, handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            require(request, "query")
        except ApiError as e:
            answer = api_errors.formatter_for("/mcp")(
                e.status, [(e.field, e.reason)], e.code,
                {**e.headers, "WWW-Authenticate": "Bearer"}, e.extra)
            await answer(scope, receive, send)
            return
        await self.handle(scope, receive, send)  # type: ignore[operator]


def install(app: FastAPI) -> None:
    for prefix in PREFIXES:
        api_errors.register_formatter(prefix, envelope, ENVELOPE)
    inner = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                              base_url="http://telequery.internal")
    server = build_server(Api(inner, _token))
    server.streamable_http_app()  # makes the session manager
    manager = server.session_manager

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        await manager.handle_request(scope, receive, send)

    app.router.routes.append(Route("/mcp", _Endpoint(app, handle),
                                   methods=["GET", "POST", "DELETE"]))
    app.state.lifespan_contexts.append(manager.run)  # the manager's task group


def run_stdio(base_url: str | None, token: str, app: FastAPI | None = None) -> None:
    """Serve the tools over stdio (desktop clients): against a running server at
    ``base_url``, or in-process against ``app`` (a data directory's), with ``token``."""
    client = (httpx.AsyncClient(base_url=base_url) if app is None else
              httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                base_url="http://telequery.internal"))
    build_server(Api(client, lambda ctx: token)).run(transport="stdio")
