"""Shared queries: ``POST /shared/query`` stores a query under an unguessable id, and
``GET /shared/query/{id}?view=events|invocations|calculations`` runs it again.

A share is a document of kind ``cf_share`` scoped to the creating org (so only that org's
tokens read it, like every other object): the query body as ``telemetry/query`` takes it,
with the parameters of a saved query copied in when the body named one by ``queryId``
(the share keeps answering if the saved query later changes or goes). The id is 128
random bits. ``expiresInSeconds`` (a telequery extension) makes it answer 404 after that.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from telequery.api.errors import ApiError
from telequery.api.workers import request as parse
from telequery.meta import Document, Meta

KIND = "cf_share"
VIEWS = ("events", "invocations", "calculations")
MAX_EXPIRY_SECONDS = 366 * 86_400


def create(meta: Meta, org: str, user: str, body: object,
           saved_query: Callable[[str], Document]) -> Document:
    b = dict(parse.obj(body, "body"))
    expires = b.pop("expiresInSeconds", None)
    if b.get("parameters") is None:  # a saved query: copy its parameters in now
        query_id = parse.text(b.get("queryId"), "queryId")
        b["parameters"] = saved_query(query_id).body.get("parameters")  # type: ignore[arg-type]
    parse.query_request(b)  # a share always runs: check it as the query endpoint would
    doc_body: dict[str, object] = {"query": b, "createdBy": user}
    if expires is not None:
        seconds = parse.integer(expires, "expiresInSeconds", lo=1, hi=MAX_EXPIRY_SECONDS)
        doc_body["expires"] = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    return meta.put(KIND, org, str(b.get("queryId") or "share"), doc_body,
                    doc_id=secrets.token_urlsafe(16))


def body_for(meta: Meta, org: str, share_id: str, view: str) -> dict[str, object]:
    """The stored query body with ``view`` set; 404 when unknown to this org or expired."""
    if view not in VIEWS:
        raise parse.bad("view", f"{view!r} is not one of {', '.join(VIEWS)}")
    doc = meta.get(KIND, org, share_id)
    expires = doc.body.get("expires") if doc is not None else None
    if doc is None or (expires and datetime.fromisoformat(str(expires)) <= datetime.now(UTC)):
        raise ApiError(404, f"Not found: no shared query {share_id!r}", "id", "not_found")
    return {**doc.body["query"], "view": view}
