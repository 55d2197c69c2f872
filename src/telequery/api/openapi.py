"""The OpenAPI document, made true: real error statuses and envelopes, real bodies.

FastAPI documents a 422 that no route sends (every API answers validation errors as 400
in its own envelope) and knows nothing of the routes that read their body themselves
(OTLP, NDJSON, the Workers API, the native query). This module rewrites the generated
document once: each operation lists the statuses it can answer with the envelope its API
registered (``errors.register_formatter``), and routes declare raw bodies with
``raw_body``. ``tests/test_openapi.py`` runs schemathesis against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi

from telequery.api import errors

if TYPE_CHECKING:
    from fastapi import FastAPI

_AUTHENTICATED = ("/api/", "/client/v4/", "/v1/")
_INGEST = "/v1/"
JSON_OBJECT = {"type": "object"}


def raw_body(description: str, content: dict[str, dict[str, Any]] | None = None,
             *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its own body (JSON object by default)."""
    return {"requestBody": {"required": required, "description": description,
                            "content": content or {"application/json":
                                                   {"schema": JSON_OBJECT}}}}


def _statuses(path: str, op: dict[str, Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    body = "requestBody" in op
    ingest = path.startswith(_INGEST)
    if body or op.get("parameters") or ingest:
        out[400] = "Invalid request: each problem names the field at fault and why"
    if path.startswith(_AUTHENTICATED):
        out[401] = "No valid API token (checked before the body is read)"
        out[403] = "The token lacks the scope this operation needs" + (
            ", or belongs to another account" if "{account_id}" in path else "")
    if "{" in path.replace("{account_id}", ""):
        out[404] = "No such object in the caller's org"
    if body:
        out[413] = "The body (or an item count) is over its limit"
    if ingest:
        out[415] = "Unsupported Content-Type or Content-Encoding"
        out[429] = "The ingest queue is full; retry after Retry-After seconds"
        out[503] = "The rows could not be stored; retry after Retry-After seconds"
    elif path.startswith(_AUTHENTICATED):
        out[408] = "The request ran past its deadline"
        out[503] = "The store is unavailable (failed, or acknowledged rows not yet " \
                   "applied); retry after Retry-After seconds"
    return out


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the statuses and envelopes each route answers."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes, tags=app.openapi_tags)
    for path, ops in schema.get("paths", {}).items():
        media, envelope = errors.envelope_for(path)
        for op in ops.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            for status, declared in responses.items():  # declared by the route
                if status[0] in "45" and "content" not in declared:
                    declared["content"] = {media: {"schema": envelope}}
            for status, why in _statuses(path, op).items():
                content = {media: {"schema": envelope}}
                if path.startswith(("/v1/traces", "/v1/logs")):
                    content["application/x-protobuf"] = {
                        "schema": {"type": "string", "format": "binary"}}
                responses.setdefault(str(status), {"description": why, "content": content})
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
