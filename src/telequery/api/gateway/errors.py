"""The gateway's error envelope ``{"statusCode", "message", "details"}`` (every error under
``/api/svc/``); ``details`` lists every problem of a request."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response

PREFIX = "/api/svc/"
ENVELOPE: dict[str, object] = {
    "type": "object", "required": ["statusCode", "message", "details"],
    "properties": {"statusCode": {"type": "integer"}, "message": {"type": "string"},
                   "details": {"type": "array", "items": {"type": "string"}}}}

_MESSAGES = {400: "Invalid query", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
             405: "Method not allowed", 408: "Query timeout", 413: "Payload too large",
             500: "Internal server error", 503: "Service unavailable"}


def envelope(status: int, problems: list[tuple[str | None, str]], code: str | None,
            headers: dict[str, str], extra: dict[str, object]) -> Response:
    """The gateway's error envelope; ``extra["details"]`` carries a whole list of problems."""
    details = extra.get("details")
    if not isinstance(details, list):
        details = [reason if not f or f in reason else f"{f}: {reason}" for f, reason in problems]
    return JSONResponse({"statusCode": status, "message": _MESSAGES.get(status, "Error"),
                         "details": details}, status_code=status, headers=headers)


