"""Cloudflare's error envelope for everything under ``/client/v4``.

``errors[].message`` is the spec's fixed title for the status ("Bad Request",
"Unauthorized", "Forbidden", "Not found", "Conflict", "Internal error"; the others named
alike), ``detail`` says what is wrong and where (``<field>: <reason>``), ``field`` names
the field at fault, ``code`` is the status and ``type`` a stable code.
"""

from __future__ import annotations

import orjson
from fastapi.responses import Response

PREFIX = "/client/v4"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 408: "Request timeout", 409: "Conflict",
          413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests",
          500: "Internal error", 503: "Service unavailable"}


def envelope_error(status: int, problems: list[tuple[str | None, str]], code: str | None,
                   headers: dict[str, str], extra: dict[str, object]) -> Response:
    """Cloudflare's error envelope; each error names the field at fault and why."""
    errs = []
    title = TITLES.get(status, "Error")
    for field, reason in problems:
        detail = f"{field}: {reason}" if field and not reason.startswith(title) else reason
        item: dict[str, object] = {"code": status, "message": title, "detail": detail}
        if field:
            item["field"] = field
        if code:
            item["type"] = code
        errs.append(item)
    body = {"success": False, "errors": errs, "messages": [], "result": None}
    return Response(orjson.dumps(body), status_code=status, headers=headers,
                    media_type="application/json")


ENVELOPE: dict[str, object] = {
    "type": "object", "required": ["success", "errors", "messages", "result"],
    "properties": {"success": {"const": False}, "messages": {"type": "array"},
                   "result": {"type": "null"},
                   "errors": {"type": "array", "items": {
                       "type": "object", "required": ["code", "message", "detail"],
                       "properties": {"code": {"type": "integer"},
                                      "message": {"type": "string"},
                                      "detail": {"type": "string"},
                                      "field": {"type": "string"},
                                      "type": {"type": "string"}}}}}}
