"""What a request handler needs: the services, and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from telequery.api.errors import ApiError

if TYPE_CHECKING:
    from telequery.ingest.writer import Writer
    from telequery.meta import Meta, Principal
    from telequery.retention import RetentionLoop
    from telequery.store.base import Store


@dataclass
class Services:
    store: Store
    meta: Meta
    writer: Writer
    retention: RetentionLoop | None = None


def services(request: Request) -> Services:
    return request.app.state.services


def bearer_token(request: Request) -> str | None:
    """The token from ``Authorization: Bearer``, ``X-API-Key``, or ``X-Auth-Key`` (the
    Cloudflare API's key header; its companion ``X-Auth-Email`` is informational)."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or request.headers.get("x-auth-key") or None


def require(request: Request, scope: str) -> Principal:
    """The caller, who must hold ``scope``: 401 without a valid token, 403 without scope."""
    principal = services(request).meta.authenticate(bearer_token(request))
    if principal is None:
        raise ApiError(401, "Unauthorized: a valid API token is required", "authorization",
                       "unauthorized")
    if not principal.can(scope):
        raise ApiError(403, f"Forbidden: the token lacks the {scope!r} scope", "authorization",
                       "forbidden")
    return principal
