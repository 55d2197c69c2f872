"""The body of ``POST /api/v1/query``: a JSON object holding telequery's query IR
(``telequery.query.query_from_dict`` checks each member's shape and names its path)."""

from __future__ import annotations

import orjson

from telequery.api.errors import ApiError
from telequery.query import Query, query_from_dict


def parse_query(raw: bytes) -> Query:
    try:
        spec = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, f"body is not valid JSON: {e}", "body", "invalid_json") from None
    if not isinstance(spec, dict):
        raise ApiError(400, "body must be a JSON object", "body", "invalid_json")
    return query_from_dict(spec)
