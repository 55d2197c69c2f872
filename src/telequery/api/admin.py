"""The admin API: an org's tokens and retention rules (``admin`` scope, the caller's org).

``/api/v1/tokens``: list (never the tokens themselves), create (the token is in the answer
once), revoke. ``/api/v1/retention``: the rules that apply to the org, set or remove one
(dataset and kind may be ``*``); ``POST /api/v1/retention/sweep`` runs a sweep now. Errors
use the native envelope (``{"error": {"status", "code", "details": [{field, reason}]}}``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from telequery.api import errors
from telequery.api.deps import require, services
from telequery.api.errors import ApiError
from telequery.retention import ANY, KINDS, days_for

router = APIRouter(tags=["admin"])
MAX_DAYS = 36_500


class TokenCreate(BaseModel):
    model_config = ConfigDict(strict=True)  # `true` is not a number of days
    name: str = Field("", max_length=200)
    scopes: list[Literal["ingest", "query", "admin"]] = Field(
        default_factory=lambda: ["ingest", "query"], min_length=1)
    expires_in_days: float | None = Field(None, gt=0, le=MAX_DAYS,
                                          description="lifetime; none = until revoked")


class RetentionRule(BaseModel):
    model_config = ConfigDict(strict=True)
    dataset: str = Field(ANY, min_length=1, max_length=200)
    kind: Literal["*", "log", "span"] = ANY
    days: float | None = Field(..., gt=0, le=MAX_DAYS,
                               description="window in days; null removes the rule")


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
    rules = svc.meta.retention_rules(principal.org)
    default = svc.retention.default_days if svc.retention else None
    return {"default_days": default,
            "rules": [{"org": o, "dataset": d, "kind": k, "days": days,
                       "set_by": "operator" if o == ANY else "org"}
                      for o, d, k, days in rules],
            "effective": {k: days_for(rules, default, principal.org, ANY, k)
                          for k in KINDS if k != ANY}}


@router.put("/api/v1/retention", summary="Set (days) or remove (days: null) one org rule")
def put_retention(request: Request, body: RetentionRule) -> dict[str, object]:
    principal = require(request, "admin")
    services(request).meta.set_retention(principal.org, body.dataset, body.kind, body.days)
    return get_retention(request)


@router.post("/api/v1/retention/sweep", summary="Delete expired rows now (all orgs' rules)")
async def run_sweep(request: Request) -> dict[str, object]:
    principal = require(request, "admin")
    svc = services(request)
    if svc.retention is None:
        raise ApiError(409, "retention is not running on this server", None, "conflict")
    result = await run_in_threadpool(svc.retention.run_once)
    return {"deleted": sum(int(g["deleted"]) for g in result.groups  # type: ignore[call-overload]
                           if g["org"] == principal.org),
            "groups": [g for g in result.groups if g["org"] == principal.org],
            "compacted": result.compacted}


def install(app: FastAPI) -> None:
    for prefix in ("/api/v1/tokens", "/api/v1/retention"):
        errors.register_formatter(prefix, errors.native_envelope)
    app.include_router(router)
