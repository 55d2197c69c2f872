"""Tool arguments -> the public APIs' request bodies. A tool's arguments are typed in
its signature (the JSON schema a model sees); what the types cannot say (a window that
must be positive, a non-empty id) is checked here and refused naming the argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from telequery.api.mcp.errors import argument_error

MAX_HOURS = 24 * 90
EVENT_COLUMNS = ["$metadata.id", "$metadata.startTime", "$metadata.service",
                 "$metadata.type", "$metadata.level", "$metadata.message",
                 "$metadata.error", "$metadata.traceId", "$metadata.spanName",
                 "$metadata.duration", "$metadata.status"]
SPAN_COLUMNS = ["$metadata.spanId", "$metadata.parentSpanId", "$metadata.spanName",
                "$metadata.service", "$metadata.startTime", "$metadata.duration",
                "$metadata.status", "$metadata.error", "$metadata.model",
                "$metadata.inputTokens", "$metadata.outputTokens", "$metadata.cost"]


def window(since_hours: float, argument: str = "since_hours") -> dict[str, int]:
    """``{from, to}`` in epoch ms: the last ``since_hours`` hours."""
    if not 0 < since_hours <= MAX_HOURS:
        raise argument_error(argument, f"must be more than 0 and at most {MAX_HOURS}")
    end = datetime.now(UTC)
    start = end - timedelta(hours=since_hours)
    return {"from": int(start.timestamp() * 1000), "to": int(end.timestamp() * 1000) + 1}


def text(value: str, argument: str) -> str:
    if not value or not value.strip():
        raise argument_error(argument, "must not be empty")
    return value.strip()


def ir_query(query: dict[str, Any]) -> dict[str, Any]:
    """The IR as ``/api/v1/query`` takes it; a missing window means the last 24 hours."""
    if "from" not in query and "to" not in query:
        return {**query, **window(24)}
    return query


def all_of(*conditions: dict[str, Any] | None, extra: list[dict] | None = None
           ) -> dict[str, Any] | None:
    items = [c for c in conditions if c] + list(extra or [])
    return {"and": items} if items else None


def eq(field: str, value: object) -> dict[str, Any]:
    return {"field": field, "op": "eq", "value": value}
