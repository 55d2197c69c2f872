"""Admin request bodies: strict (``true`` is not a number of days), bounded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telequery.retention import ANY

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


class ModelPrices(BaseModel):
    """USD per 1M tokens; cache tokens fall back to the input rate when left out."""

    model_config = ConfigDict(strict=True, extra="forbid")
    input: float = Field(..., ge=0, le=100_000)
    output: float = Field(..., ge=0, le=100_000)
    cache_read: float | None = Field(None, ge=0, le=100_000)
    cache_write: float | None = Field(None, ge=0, le=100_000)


class RedactionRule(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str = Field(..., description="what the match becomes: [REDACTED:<name>]")
    pattern: str = Field(..., description="a Python regular expression")


class RedactionPolicy(BaseModel):
    """An org's redaction at ingest; ``detectors`` left out means all of them."""

    model_config = ConfigDict(strict=True, extra="forbid")
    detectors: list[Literal["email", "phone", "credit_card", "api_key"]] | None = None
    rules: list[RedactionRule] = Field(default_factory=list)
    drop_content: bool = Field(False, description="keep no message content at all")
    scope: Literal["content", "all"] = Field(
        "content", description="content only, or every string the event has (log bodies, "
                               "errors, promoted columns, attributes, resource) too")
    content_keys: list[str] = Field(
        default_factory=list, description="more attribute keys that hold message content "
                                          "(``prefix.*`` for every key under a prefix)")
