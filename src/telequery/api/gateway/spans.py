"""``POST /api/svc/v1/spans/query``: TrueFoundry's span listing, the route its SDK calls
(``truefoundry_sdk`` ``traces.query_spans``; its ``traces/raw_client.py``,
``types/trace_span.py``, ``types/token_pagination.py``, ``types/span_*_filter*.py`` are the
contract). One page of spans, newest first by default, with an opaque page token.

Paging is a keyset on the event id, which sorts with time (its prefix is the timestamp)
and is unique: a page asks for ids past the last one it returned, so no span comes twice
and every span stored when paging began is returned once, whatever arrives meanwhile.
The token carries the last id and the direction; it is refused if it was made for the
other direction. ``tracingProjectFqn`` / ``dataRoutingDestination``: one is required, as
upstream; an org is one project in telequery, so neither narrows the answer.
``includeFeedbacks``: telequery keeps no span feedback yet, so ``feedbacks`` is an empty
list either way (docs/datasets.md).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from telequery.api.errors import ApiError
from telequery.query import (
    Condition,
    Filter,
    FilterGroup,
    Op,
    OrderBy,
    Query,
    Result,
    TimeRange,
)

DEFAULT_LIMIT = 200  # upstream's default
MAX_LIMIT = 1_000
_OPS = {"EQUAL": Op.EQ, "NOT_EQUAL": Op.NEQ, "GREATER_THAN": Op.GT, "LESS_THAN": Op.LT,
        "GREATER_THAN_EQUAL": Op.GTE, "LESS_THAN_EQUAL": Op.LTE, "BETWEEN": Op.BETWEEN,
        "IN": Op.IN, "NOT_IN": Op.NOT_IN, "STRING_CONTAINS": Op.INCLUDES,
        "STRING_NOT_CONTAINS": Op.NOT_INCLUDES, "STRING_STARTS_WITH": Op.STARTS_WITH,
        "STRING_NOT_STARTS_WITH": Op.NOT_STARTS_WITH, "STRING_ENDS_WITH": Op.ENDS_WITH,
        "STRING_NOT_ENDS_WITH": Op.NOT_ENDS_WITH, "ARRAY_HAS_ANY": Op.ARRAY_HAS_ANY,
        "ARRAY_HAS_NONE": Op.ARRAY_HAS_NONE, "PRESENT": Op.EXISTS, "IS_NULL": Op.IS_NULL}
# spanFieldName -> the events field it reads
_FIELDS = {"spanName": "$metadata.spanName", "spanId": "$metadata.spanId",
           "traceId": "$metadata.traceId", "parentSpanId": "$metadata.parentSpanId",
           "applicationName": "$metadata.service", "createdBySubjectSlug": "$metadata.userId",
           "durationInMs": "$metadata.duration", "durationInNs": "$metadata.duration",
           "spanStatusCode": "$metadata.status", "scopeName": "otel.scope.name",
           "environment": "deployment.environment", "tag": "tag"}
_STATUS = {"ok": "Ok", "error": "Error", "unset": "Unset"}  # stored -> TrueFoundry's
_STATUS_IN = {v.lower(): k for k, v in _STATUS.items()} | {
    "status_code_ok": "ok", "status_code_error": "error", "status_code_unset": "unset"}
COLUMNS = ("id", "timestamp", "trace_id", "span_id", "parent_span_id", "service", "span_name",
           "span_kind", "duration_ms", "status", "error", "user_id", "attrs_string",
           "attrs_number", "attrs_bool", "content", "resource")
_ID = re.compile(r"[0-9a-f]{15,40}")


def bad(field: str, reason: str) -> ApiError:
    return ApiError(400, reason, field, "invalid_query")


@dataclass(frozen=True)
class SpansRequest:
    query: Query
    limit: int
    descending: bool


def _time(v: object, field: str) -> datetime:
    if not isinstance(v, str):
        raise bad(field, "expected an ISO 8601 time, e.g. 2026-03-12T00:00:09.872Z")
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise bad(field, "expected an ISO 8601 time, e.g. 2026-03-12T00:00:09.872Z") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _strings(v: object, field: str) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise bad(field, "expected an array of strings")
    return v


def _token(v: object, descending: bool) -> str | None:
    """The last id of the previous page, from ``pageToken``."""
    if v is None or v == "":
        return None
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(str(v).encode()))
        last, direction = doc["after"], doc["dir"]
    except (ValueError, TypeError, KeyError):
        raise bad("pageToken", "not a token this server gave") from None
    if not isinstance(last, str) or not _ID.fullmatch(last) or \
            direction != ("desc" if descending else "asc"):
        raise bad("pageToken", "not a token for this query's sortDirection")
    return last


def next_token(last_id: str, descending: bool) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(
        {"after": last_id, "dir": "desc" if descending else "asc"})).decode()


def _filter(item: object, i: int) -> Filter:
    path = f"filters[{i}]"
    if not isinstance(item, dict):
        raise bad(path, "expected an object")
    op = _OPS.get(str(item.get("operator")))
    if op is None:
        raise bad(f"{path}.operator", f"one of {', '.join(_OPS)}")
    value = item.get("value")
    if "spanFieldName" in item:
        name = str(item["spanFieldName"])
        if name == "createdBySubjectType":  # every span's subject is a user in telequery
            types = value if isinstance(value, list) else [value]
            hit = "user" in types
            keep = hit if op in (Op.EQ, Op.IN, Op.ARRAY_HAS_ANY, Op.EXISTS) else not hit
            return Condition("$metadata.spanId", Op.EXISTS if keep else Op.IS_NULL, None)
        field = _FIELDS.get(name)
        if field is None:
            names = ", ".join([*_FIELDS, "createdBySubjectType"])
            raise bad(f"{path}.spanFieldName", f"one of {names}")
        if name == "durationInNs":
            value = _scaled(value, 1e-6, f"{path}.value")
        elif name == "spanStatusCode":
            value = _status(value, f"{path}.value")
    elif "spanAttributeKey" in item:
        field = str(item["spanAttributeKey"])
    elif "gatewayRequestMetadataKey" in item:
        field = f"tfy.gateway.request.metadata.{item['gatewayRequestMetadataKey']}"
    else:
        raise bad(path, "needs spanFieldName, spanAttributeKey or gatewayRequestMetadataKey")
    if op in (Op.EXISTS, Op.IS_NULL):
        value = None
    return Condition(field, op, value)


def _scaled(v: object, factor: float, field: str) -> object:
    if isinstance(v, bool) or not isinstance(v, (int, float, list)):
        raise bad(field, "expected a number or an array of numbers")
    if isinstance(v, list):
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise bad(field, "expected a number or an array of numbers")
        return [x * factor for x in v]
    return v * factor


def _status(v: object, field: str) -> object:
    def one(x: object) -> str:
        s = _STATUS_IN.get(str(x).lower())
        if s is None:
            raise bad(field, "one of Ok, Error, Unset")
        return s
    return [one(x) for x in v] if isinstance(v, list) else one(v)


def parse(body: object, now: datetime) -> SpansRequest:
    """The request as a rows query over spans (from the page token's last id on)."""
    if not isinstance(body, dict):
        raise bad("body", "expected a JSON object")
    if body.get("startTime") is None:
        raise bad("startTime", "is required")
    start = _time(body["startTime"], "startTime")
    end = _time(body["endTime"], "endTime") if body.get("endTime") is not None else now
    if end <= start:
        raise bad("endTime", "must be after startTime")
    if not body.get("tracingProjectFqn") and not body.get("dataRoutingDestination"):
        raise bad("tracingProjectFqn", "one of tracingProjectFqn or dataRoutingDestination "
                                       "is required")
    limit = body.get("limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise bad("limit", f"an integer from 1 to {MAX_LIMIT}")
    direction = body.get("sortDirection") or "desc"
    if direction not in ("asc", "desc"):
        raise bad("sortDirection", "asc or desc")
    descending = direction == "desc"
    conds: list[Filter] = [Condition("$metadata.type", Op.EQ, "span")]
    for key, field in (("traceIds", "$metadata.traceId"), ("spanIds", "$metadata.spanId"),
                       ("parentSpanIds", "$metadata.parentSpanId"),
                       ("applicationNames", "$metadata.service"),
                       ("createdBySubjectSlugs", "$metadata.userId")):
        values = _strings(body.get(key), key)
        if values is not None:
            conds.append(Condition(field, Op.IN, values))
    subject_types = _strings(body.get("createdBySubjectTypes"), "createdBySubjectTypes")
    if subject_types is not None and "user" not in subject_types:
        conds.append(Condition("$metadata.spanId", Op.IS_NULL, None))  # none match
    filters = body.get("filters")
    if filters is not None:
        if not isinstance(filters, list):
            raise bad("filters", "expected an array")
        conds += [_filter(item, i) for i, item in enumerate(filters)]
    after = _token(body.get("pageToken"), descending)
    if after is not None:
        conds.append(Condition("$metadata.id", Op.LT if descending else Op.GT, after))
    query = Query("events", TimeRange(start, end), filter=FilterGroup("and", tuple(conds)),
                  order_by=(OrderBy("$metadata.id", descending=descending),),
                  limit=limit + 1, columns=COLUMNS)
    return SpansRequest(query, limit, descending)


def _iso(t: datetime) -> str:
    return t.replace(tzinfo=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def span(row: tuple, at: dict[str, int]) -> dict[str, Any]:
    """One event row as TrueFoundry's ``TraceSpan``."""
    def v(name: str) -> Any:
        return row[at[name]]

    attributes: dict[str, Any] = {}
    for name in ("attrs_string", "attrs_number", "attrs_bool", "content"):
        attributes.update(v(name) or {})
    user = v("user_id")
    return {
        "spanId": v("span_id") or "", "traceId": v("trace_id") or "",
        "parentSpanId": v("parent_span_id") or "", "serviceName": v("service") or "",
        "spanName": v("span_name") or "", "spanKind": (v("span_kind") or "unspecified").upper(),
        "scopeName": attributes.pop("otel.scope.name", ""),
        "scopeVersion": attributes.pop("otel.scope.version", ""),
        "timestamp": _iso(v("timestamp")),
        "durationNs": round((v("duration_ms") or 0.0) * 1e6),
        "statusCode": _STATUS.get(v("status") or "unset", "Unset"),
        "statusMessage": v("error") or "",
        "spanAttributes": attributes, "events": [],
        "createdBySubject": {"subjectId": user or "", "subjectType": "user",
                             "subjectSlug": user or ""},
        "feedbacks": [],  # telequery keeps no span feedback (yet): empty either way
    }


def page(req: SpansRequest, result: Result) -> dict[str, Any]:
    at = {c: i for i, c in enumerate(result.columns)}
    rows = result.rows[:req.limit]
    pagination: dict[str, Any] = {"limit": req.limit}
    if len(result.rows) > req.limit:
        pagination["nextPageToken"] = next_token(rows[-1][at["id"]], req.descending)
    return {"data": [span(r, at) for r in rows], "pagination": pagination}
