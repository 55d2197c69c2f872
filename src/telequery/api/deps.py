"""What a request handler needs: the services, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from telequery.api.errors import ApiError
from telequery.store.base import StoreUnavailable, barrier_wait, describe, read_your_writes

if TYPE_CHECKING:
    from telequery.destinations.exporter import Exporter
    from telequery.ingest.writer import Writer
    from telequery.meta import Meta, Principal
    from telequery.prices import PriceBook
    from telequery.redaction import PolicyBook
    from telequery.retention import RetentionLoop
    from telequery.store.base import Store


def freshness_lag_ms(writer: Writer, wait: float | None) -> float:
    """How stale reads with this read-your-writes ``wait`` are: 0 when they wait for every
    acknowledged row, else the age of the oldest acknowledged row not applied yet."""
    return 0.0 if wait is not None else writer.lag_ms()


@dataclass
class Services:
    store: Store
    meta: Meta
    writer: Writer
    exporter: Exporter
    prices: PriceBook
    redaction: PolicyBook
    retention: RetentionLoop | None = None

    def freshness_lag_ms(self) -> float:
        """How stale this request's reads are (``freshness_lag_ms``)."""
        return freshness_lag_ms(self.writer, barrier_wait())

    def readiness(self) -> list[str]:
        """Why the server cannot serve now (empty when it can): the writer's problems,
        else whether the store answers a query with every acknowledged row applied."""
        problems = self.writer.problems()
        if not problems:
            try:
                with read_your_writes(5.0):  # every acknowledged row can be applied
                    self.store.execute("SELECT 1", timeout=5)
            except StoreUnavailable as e:
                problems.append(e.reason)
            except Exception as e:  # any failure means not ready
                problems.append(f"store: {describe(e)}")
        return problems


def services(request: Request) -> Services:
    return request.app.state.services


def bearer_token(request: Request) -> str | None:
    return token_in(request.headers)


def token_in(headers: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer``, ``X-API-Key``, or ``X-Auth-Key`` (the
    Cloudflare API's key header; its companion ``X-Auth-Email`` is informational)."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key") or headers.get("x-auth-key") or None


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
