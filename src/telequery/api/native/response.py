"""The answer of ``POST /api/v1/query``: columns, rows and what the query cost."""

from __future__ import annotations

import orjson
from fastapi.responses import Response

from telequery.query import Result


def result_response(result: Result) -> Response:
    body = {"columns": result.columns, "rows": result.rows,
            "stats": {"rows_read": result.stats.rows_read, "bytes_read": result.stats.bytes_read,
                      "elapsed": result.stats.elapsed}}
    return Response(orjson.dumps(body, default=str), media_type="application/json")
