"""Tool errors: what a model reads when a call is wrong, naming the argument.

Every tool reaches telequery through its public APIs; their 4xx envelopes (native
``details``, Workers ``errors``, reports problem+json ``errors``) are translated into one
``ToolError`` line: ``<argument>.<field>: <reason>``. The HTTP endpoint's own answers
(401/403 before any tool runs) use the native envelope.
"""

from __future__ import annotations

from mcp.server.fastmcp.exceptions import ToolError

from telequery.api.errors import DEFAULT_ENVELOPE, native_envelope

PREFIXES = ("/mcp",)
ENVELOPE = DEFAULT_ENVELOPE
envelope = native_envelope


def argument_error(argument: str, reason: str) -> ToolError:
    return ToolError(f"{argument}: {reason}")


def from_answer(argument: str, status: int, body: object) -> ToolError:
    """A tool error from an API's error answer, located under ``argument``."""
    problems: list[tuple[str | None, str]] = []
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):  # native / admin
            for d in body["error"].get("details") or []:
                problems.append((d.get("field"), d.get("reason", "")))
        for e in body.get("errors") or []:  # Workers, reports
            if isinstance(e, dict):
                field = e.get("field") or e.get("pointer", "").lstrip("#/").replace("/", ".")
                reason = e.get("reason") or e.get("detail") or e.get("message", "")
                problems.append((field or None, reason))
        if not problems and body.get("detail"):
            problems.append((None, str(body["detail"])))
    if not problems:
        problems.append((None, f"HTTP {status}"))
    text = "; ".join(f"{argument}.{f}: {r}" if f else f"{argument}: {r}" for f, r in problems)
    if status in (401, 403):
        text = f"not allowed ({status}): {text}"
    elif status == 408:
        text = f"timed out: {text}"
    return ToolError(text)
