"""Saved queries (Meta documents of kind ``cf_query``) and query runs (``cf_run``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from telequery.api.errors import ApiError
from telequery.api.workers import request as parse
from telequery.api.workers.request import bad
from telequery.api.workers.response import iso

if TYPE_CHECKING:
    from telequery.meta import Document, Meta

KIND = "cf_query"
RUN_KIND = "cf_run"
# Query runs are a write-only history (one per non-dry query: a dashboard refreshing every
# 10 s writes 8,640 a day per panel): each org keeps its newest RUN_HISTORY, trimmed
# after every RUN_TRIM_EVERY runs it records.
RUN_HISTORY = 10_000
RUN_TRIM_EVERY = 100
# The spec's bounds (contracts/workers-observability.md): list pages and saved parameters.
MIN_PER_PAGE, DEFAULT_PER_PAGE, MAX_PER_PAGE = 5, 20, 50
MAX_SAVED_LIMIT = 100
MAX_NEEDLE_CHARS = 1000


def query_json(doc: Document) -> dict[str, object]:
    """A saved query as the SDK's ``QueryCreateResponse``/``QueryListResponse``."""
    body = doc.body
    return {"id": doc.id, "adhoc": False, "name": doc.name,
            "description": body.get("description"), "parameters": body.get("parameters", {}),
            "created": iso(doc.created), "updated": iso(doc.updated),
            "createdBy": body.get("createdBy", ""), "updatedBy": body.get("updatedBy", "")}


def _name(v: object) -> str:
    name = parse.text(v, "name", max_len=250)
    assert name is not None
    return name


def _description(v: object) -> str | None:
    return parse.text(v, "description", required=False, max_len=1000)


def _parameters(v: object) -> dict:
    if v is None:
        raise bad("parameters", "is required")
    params = parse.parameters(v)  # validate now, so a saved query always runs
    if params.limit is not None and not 0 <= params.limit <= MAX_SAVED_LIMIT:
        raise bad("parameters.limit", f"must be between 0 and {MAX_SAVED_LIMIT}")
    if params.needle is not None and len(params.needle.value) > MAX_NEEDLE_CHARS:
        raise bad("parameters.needle.value", f"must be at most {MAX_NEEDLE_CHARS} characters")
    return v  # type: ignore[return-value]


def create(meta: Meta, org: str, user: str, body: object) -> Document:
    b = parse.obj(body, "body")
    doc_body = {"description": _description(b.get("description")),
                "parameters": _parameters(b.get("parameters")),
                "createdBy": user, "updatedBy": user}
    return meta.put(KIND, org, _name(b.get("name")), doc_body)


def get(meta: Meta, org: str, query_id: str) -> Document:
    doc = meta.get(KIND, org, query_id)
    if doc is None:
        raise ApiError(404, f"Not found: no saved query {query_id!r}", "queryId", "not_found")
    return doc


def update(meta: Meta, org: str, user: str, query_id: str, body: object) -> Document:
    b = parse.obj(body, "body")
    doc = get(meta, org, query_id)
    new = dict(doc.body)
    if "description" in b:
        new["description"] = _description(b["description"])
    if "parameters" in b:
        new["parameters"] = _parameters(b["parameters"])
    new["updatedBy"] = user
    name = _name(b["name"]) if "name" in b else None
    updated = meta.update(KIND, org, query_id, name=name, body=new)
    if updated is None:  # deleted meanwhile
        raise ApiError(404, f"Not found: no saved query {query_id!r}", "queryId", "not_found")
    return updated


def delete(meta: Meta, org: str, query_id: str) -> Document:
    doc = get(meta, org, query_id)
    meta.delete(KIND, org, query_id)
    return doc


def _paging(args: dict[str, str]) -> tuple[int, int, bool, str]:
    """``page``, ``perPage``, descending?, ``orderBy`` from a list's query string, with
    the spec's bounds and defaults (newest ``updated`` first, 20 a page)."""
    page = _int_arg(args, "page", 1, 1, 10**6)
    per_page = _int_arg(args, "perPage", DEFAULT_PER_PAGE, MIN_PER_PAGE, MAX_PER_PAGE)
    order = parse.choice(args.get("order"), "order", ("asc", "desc")) or "desc"
    order_by = parse.choice(args.get("orderBy"), "orderBy", ("created", "updated")) or "updated"
    return page, per_page, order == "desc", order_by


def list_page(meta: Meta, org: str, args: dict[str, str], kind: str = KIND
              ) -> tuple[list[Document], dict]:
    """One page of an org's documents of ``kind`` (saved queries by default), with the
    list's ``result_info``; ``args`` are the query-string parameters."""
    page, per_page, descending, order_by = _paging(args)
    docs = meta.list(kind, org, order_by=order_by, descending=descending, limit=per_page,
                     offset=(page - 1) * per_page)
    total = meta.count(kind, org)
    info = {"page": page, "per_page": per_page, "count": len(docs), "total_count": total}
    return docs, info


def _int_arg(args: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad(name, f"expected a number, got {raw!r}") from None
    return parse.integer(value, name, lo=lo, hi=hi)  # type: ignore[return-value]


class RunHistory:
    """Records query runs and keeps each org's history at ``RUN_HISTORY`` runs."""

    def __init__(self) -> None:
        self._since_trim: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, meta: Meta, org: str, query_id: str, run: dict[str, object]) -> str:
        # no fsync per run (WAL + synchronous=NORMAL: a power cut can lose the newest runs,
        # never corrupt the file); ~2.5 ms per request otherwise
        doc = meta.put(RUN_KIND, org, query_id, run, doc_id=str(run["id"]), durable=False)
        with self._lock:
            n = self._since_trim[org] = self._since_trim.get(org, 0) + 1
            due = n >= RUN_TRIM_EVERY
            if due:
                self._since_trim[org] = 0
        if due:
            meta.trim(RUN_KIND, org, RUN_HISTORY)
        return doc.id
