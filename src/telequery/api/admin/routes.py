"""``/api/v1/tokens``, ``/api/v1/retention``, ``/api/v1/prices`` and ``/api/v1/redaction``
(``admin`` scope, the caller's org)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from telequery.api.admin.request import (
    ModelPrices,
    RedactionPolicy,
    RetentionRule,
    TokenCreate,
)
from telequery.api.admin.response import retention_json
from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.redaction import DETECTORS, Policy, problems
from telequery.retention import TooSoon

router = APIRouter(tags=["admin"])


@router.get("/api/v1/tokens", summary="The org's tokens (never the tokens themselves)")
def list_tokens(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    return {"tokens": [t.as_json() for t in services(request).meta.list_tokens(principal.org)]}


@router.post("/api/v1/tokens", status_code=201,
             summary="Create a token for the org; the answer holds it, once")
def create_token(request: Request, body: TokenCreate) -> dict[str, object]:
    principal = require(request, "admin")
    expires = (datetime.now(UTC) + timedelta(days=body.expires_in_days)
               if body.expires_in_days else None)
    try:
        token, info = services(request).meta.issue_token(principal.org, body.scopes,
                                                         body.name, expires)
    except ValueError as e:  # e.g. a lifetime so short it has passed already
        raise ApiError(400, str(e), "expires_in_days", "invalid_value") from None
    return {"token": token, **info.as_json()}


@router.delete("/api/v1/tokens/{token_id}", summary="Revoke one of the org's tokens")
def revoke_token(request: Request, token_id: str) -> dict[str, object]:
    principal = require(request, "admin")
    if not services(request).meta.revoke_token(token_id, principal.org):
        raise ApiError(404, f"no active token {token_id!r} in this org", "token_id",
                       "not_found")
    return {"revoked": token_id}


@router.get("/api/v1/retention", summary="Retention rules that apply to the org")
def get_retention(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    svc = services(request)
    default = svc.retention.default_days if svc.retention else None
    return retention_json(principal.org, svc.meta.retention_rules(principal.org), default)


@router.put("/api/v1/retention", summary="Set (days) or remove (days: null) one org rule")
def put_retention(request: Request, body: RetentionRule) -> dict[str, object]:
    principal = require(request, "admin")
    services(request).meta.set_retention(principal.org, body.dataset, body.kind, body.days)
    return get_retention(request)


@router.post("/api/v1/retention/sweep", summary="Delete the org's expired rows now (at most "
                                                "once a minute)",
             responses={429: {"description": "A sweep ran for the org less than a minute ago"}})
async def run_sweep(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    svc = services(request)
    if svc.retention is None:
        raise ApiError(409, "retention is not running on this server", None, "conflict")
    try:
        result = await run_in_threadpool(svc.retention.run_for, principal.org)
    except TooSoon as e:
        raise ApiError(429, str(e), None, "too_many_requests",
                       headers={"Retry-After": str(e.retry_after)}) from None
    return {"deleted": sum(int(g["deleted"]) for g in result.groups),  # type: ignore[call-overload]
            "groups": result.groups, "compacted": result.compacted}




@router.get("/api/v1/prices", summary="The org's negotiated prices, per model")
def list_prices(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    book = services(request).prices.for_org(principal.org)
    return {"prices": [{"model": m, **p} for m, p in sorted(book.items())]}


@router.put("/api/v1/prices/{model}",
            summary="Set the org's price for a model (USD per 1M tokens, per token kind)")
def set_price(request: Request, model: str, body: ModelPrices) -> dict[str, object]:
    """Calls of this model ingested from now on are priced with it (a cost the sender
    provided still wins); rows already stored keep their cost and its source."""
    principal = require(request, "admin")
    if not model.strip() or len(model) > 300:
        raise ApiError(400, "a model name of 1 to 300 characters", "model", "invalid_value")
    prices = body.model_dump(exclude_none=True)
    services(request).prices.set(principal.org, model, prices)
    return {"model": model, **prices}


@router.delete("/api/v1/prices/{model}", summary="Drop the org's price for a model")
def delete_price(request: Request, model: str) -> dict[str, object]:
    principal = require(request, "admin")
    if not services(request).prices.remove(principal.org, model):
        raise ApiError(404, f"no price set for {model!r}", "model", "not_found")
    return {"model": model, "deleted": True}


@router.get("/api/v1/redaction", summary="The org's redaction policy for ingested content")
def get_redaction(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    return services(request).redaction.for_org(principal.org).as_json()


@router.put("/api/v1/redaction", summary="Set the org's redaction policy (applies to what "
                                         "is ingested from now on)")
def put_redaction(request: Request, body: RedactionPolicy) -> dict[str, object]:
    """Rows already stored keep what they hold: redaction happens once, at ingest, before
    anything is written."""
    principal = require(request, "admin")
    raw = body.model_dump()
    if raw["detectors"] is None:
        raw["detectors"] = list(DETECTORS)
    found = problems(raw)
    if found:
        (field, reason), *more = found
        raise ApiError(400, reason, field, "invalid_value", more=more)
    policy = Policy.from_json(raw)
    services(request).redaction.set(principal.org, policy)
    return policy.as_json()


@router.delete("/api/v1/redaction", summary="Back to the default policy (every detector, "
                                            "content only)")
def reset_redaction(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    services(request).redaction.reset(principal.org)
    return services(request).redaction.for_org(principal.org).as_json()
