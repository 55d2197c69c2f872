"""The body of ``POST /api/v1/query``: a JSON object holding telequery's query IR
(``telequery.query.query_from_dict`` checks each member's shape and names its path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from telequery.api.errors import ApiError
from telequery.query import Query, TimeRange, parse_time, query_from_dict

SQL_DEFAULT_WINDOW = timedelta(hours=24)
SQL_DEFAULT_ROWS, SQL_MAX_ROWS = 10_000, 100_000


def _object(raw: bytes) -> dict:
    try:
        spec = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"body is not valid JSON: {e}", "body", "invalid_json") from None
    if not isinstance(spec, dict):
        raise ApiError(400, "body must be a JSON object", "body", "invalid_json")
    return spec


def parse_query(raw: bytes) -> Query:
    return query_from_dict(_object(raw))


@dataclass(frozen=True)
class SqlRequest:
    sql: str
    time_range: TimeRange
    limit: int


def parse_sql(raw: bytes) -> SqlRequest:
    """``{"sql", "from"?, "to"?, "limit"?}``: the window defaults to the last 24 hours,
    the limit to 10,000 rows (at most 100,000)."""
    spec = _object(raw)
    sql = spec.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ApiError(400, "a SELECT statement (a non-empty string) is required", "sql",
                       "invalid_value")
    end = parse_time(spec["to"], "to") if spec.get("to") is not None else datetime.now(UTC)
    start = (parse_time(spec["from"], "from") if spec.get("from") is not None
             else end - SQL_DEFAULT_WINDOW)
    if start >= end:
        raise ApiError(400, "'from' must be earlier than 'to'", "from", "invalid_value")
    limit = spec.get("limit", SQL_DEFAULT_ROWS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= SQL_MAX_ROWS:
        raise ApiError(400, f"must be a whole number from 1 to {SQL_MAX_ROWS}", "limit",
                       "invalid_value")
    return SqlRequest(sql, TimeRange(start, end), limit)


UNPRICED_SOURCE = "unpriced"  # telequery.cost.source of a call no price was found for


def unpriced_query(since_hours: float) -> Query:
    if not 0 < since_hours <= 24 * 400:
        raise ApiError(400, "must be more than 0 and at most 9600", "since_hours",
                       "invalid_value")
    end = datetime.now(UTC)
    return query_from_dict({
        "dataset": "events", "from": (end - timedelta(hours=since_hours)).isoformat(),
        "to": end.isoformat(), "limit": 1000,
        "filter": {"and": [{"field": "telequery.cost.source", "op": "eq",
                            "value": UNPRICED_SOURCE}]},
        "group_by": ["$metadata.provider", "$metadata.model"],
        "measures": [{"agg": "count", "alias": "calls"},
                     {"agg": "sum", "field": "$metadata.inputTokens", "alias": "input"},
                     {"agg": "sum", "field": "$metadata.outputTokens", "alias": "output"}],
        "order_by": [{"key": "calls", "desc": True}]})
