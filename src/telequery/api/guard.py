"""Authenticate first, then read a bounded body: for every query and admin route.

A pure ASGI middleware in front of the API routes (``/api/``, ``/client/v4/``): a request
that carries a body (POST, PUT, PATCH) without a valid token is answered 401 before a byte
of it is read (other methods are authenticated by their route, so an unknown path is
still a 404), and a body over
``MAX_BODY_BYTES`` is answered 413 (from ``Content-Length`` at once, or as soon as a
streamed body passes the limit) without reading the rest. Both answers use the API's own
envelope. The scope (query, admin) is still checked by each route. Ingest routes (``/v1/``)
check their token and bound their bodies themselves (``api/ingest``), with their own
limits and the OTLP status encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import Headers

from telequery.api.deps import token_in
from telequery.api.errors import formatter_for

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from telequery.meta import Meta

GUARDED = ("/api/", "/client/v4/")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
MAX_BODY_BYTES = 16 * 1024 * 1024  # a 10 MB needle must still get its 400 from validation


class BodyGuard:
    def __init__(self, app: ASGIApp, meta: Meta, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.meta, self.max_body_bytes = app, meta, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(GUARDED) or \
                scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.meta.authenticate(token_in(headers)) is None:
            await self._refuse(scope, receive, send, 401, "authorization",
                               "Unauthorized: a valid API token is required", "unauthorized")
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send, 413, "body", self._too_big(),
                               "payload_too_large")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, 413, "body", self._too_big(),
                                   "payload_too_large")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_big(self) -> str:
        return f"the body is larger than {self.max_body_bytes} bytes"

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, field: str,
                      reason: str, code: str) -> None:
        response = formatter_for(scope["path"])(status, [(field, reason)], code, {}, {})
        await response(scope, receive, send)
