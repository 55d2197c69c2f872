"""RFC 9457 problem details: the Reports API's error envelope.

``{type, title, status, detail, code, errors, allowed_actions?, retry_after_seconds?}``
served as ``application/problem+json``. ``detail`` names the offending field; ``errors``
(an extension member) lists every ``{field, reason}``; ``allowed_actions`` says what a
client can do next where there is something (retry, retry later, get the existing one).
"""

from __future__ import annotations

from http import HTTPStatus

import orjson
from fastapi.responses import Response

MEDIA_TYPE = "application/problem+json"

# What a client may do next, by error code, when the raiser did not say.
_ACTIONS: dict[str, list[dict[str, object]]] = {
    "internal_error": [{"rel": "retry", "hint": "retry the request once"}],
    "query_timeout": [{"rel": "retry", "hint": "narrow the time range or add filters"}],
}


def problem(status: int, problems: list[tuple[str | None, str]], code: str | None,
            headers: dict[str, str], extra: dict[str, object]) -> Response:
    """The ``errors.Formatter`` registered for ``/api/v1/reports``."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    detail = "; ".join(f"{field}: {reason}" if field else reason for field, reason in problems)
    body: dict[str, object] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code or _default_code(status),
        "errors": [{"field": f, "reason": r} for f, r in problems],
    }
    actions = extra.get("allowed_actions") or _ACTIONS.get(str(body["code"]))
    if actions:
        body["allowed_actions"] = actions
    for key, value in extra.items():
        if key != "allowed_actions":
            body[key] = value
    return Response(orjson.dumps(body), status_code=status, headers=headers,
                    media_type=MEDIA_TYPE)


def _default_code(status: int) -> str:
    return {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 409: "conflict", 429: "overloaded",
            503: "overloaded"}.get(status, "internal_error" if status >= 500 else "error")
