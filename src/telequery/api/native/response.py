"""The answer of ``POST /api/v1/query``: columns, rows and what the query cost."""

from __future__ import annotations

import csv
import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.responses import Response

from telequery.export import rows_to_arrow
from telequery.query import Result, SqlResult, TimeRange

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"


def result_response(result: Result) -> Response:
    body: dict[str, object] = {"columns": result.columns, "rows": result.rows,
                               "stats": _stats(result)}
    if result.previous is not None:  # "compare": the window just before, same shape
        body["previous"] = {"columns": result.previous.columns, "rows": result.previous.rows}
    return Response(orjson.dumps(body, default=str), media_type="application/json")


def _stats(result: Result | SqlResult) -> dict[str, object]:
    return {"rows_read": result.stats.rows_read, "bytes_read": result.stats.bytes_read,
            "elapsed": result.stats.elapsed}


def sql_response(result: SqlResult, time_range: TimeRange, accept: str) -> Response:
    """JSON by default; CSV, Arrow IPC stream or Parquet when ``Accept`` asks. Whether the
    rows were cut at the limit is in the body (JSON) or the ``X-Telequery-Truncated``
    header (every format)."""
    headers = {"X-Telequery-Truncated": "true" if result.truncated else "false",
               "X-Telequery-Row-Limit": str(result.limit)}
    if ARROW in accept or PARQUET in accept:
        table = rows_to_arrow(result.columns, result.rows)
        sink = io.BytesIO()
        if PARQUET in accept:
            pq.write_table(table, sink)
        else:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        return Response(sink.getvalue(), media_type=PARQUET if PARQUET in accept else ARROW,
                        headers=headers)
    if CSV in accept:
        text = io.StringIO()
        out = csv.writer(text)
        out.writerow(result.columns)
        out.writerows(["" if v is None else v for v in row] for row in result.rows)
        return Response(text.getvalue(), media_type=CSV, headers=headers)
    body = {"columns": result.columns, "rows": result.rows, "truncated": result.truncated,
            "limit": result.limit,
            "time_range": {"from": time_range.start.isoformat(),
                           "to": time_range.end.isoformat()},
            "stats": _stats(result)}
    return Response(orjson.dumps(body, default=str), media_type="application/json",
                    headers=headers)
