"""Report answers: a query's result with its freshness, exports (CSV or JSON) and saved
reports, as contracts/reports.md shapes them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from telequery.meta import Document
    from telequery.query import Query, Result


def report_result(query: Query, result: Result, newest: object) -> dict[str, Any]:
    now = datetime.now(UTC)
    kinds = {d.name: "dimension" for d in query.group_by}
    out: dict[str, Any] = {
        "as_of": iso(now),
        "columns": [{"name": n, "kind": kinds.get(n, "measure")} for n in result.columns],
        "rows": [{n: json_value(v) for n, v in zip(result.columns, r, strict=True)}
                 for r in result.rows],
    }
    # ClickHouse's max() over no rows is 0, not NULL: both mean "no data, lag unknown".
    if isinstance(newest, (int, float)) and newest > 0:
        now_ms = int(now.timestamp() * 1000)
        out["freshness_lag_ms"] = max(0, now_ms - int(newest))
    return out


def json_value(v: object) -> object:
    if isinstance(v, Decimal):
        v = float(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v


def export_file(result: dict[str, Any], fmt: str, base: str) -> dict[str, Any]:
    names = [c["name"] for c in result["columns"]]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names)
        for row in result["rows"]:
            writer.writerow(["" if row[n] is None else row[n] for n in names])
        content, content_type = buf.getvalue(), "text/csv"
    else:
        content, content_type = orjson.dumps(result["rows"]).decode(), "application/json"
    stamp = result["as_of"].replace("-", "").replace(":", "").split(".")[0]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or "report"
    out = {"format": fmt, "filename": f"{slug}-{stamp}.{fmt}", "content_type": content_type,
           "content": content, "as_of": result["as_of"]}
    if "freshness_lag_ms" in result:
        out["freshness_lag_ms"] = result["freshness_lag_ms"]
    return out


def saved_json(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "name": doc.name, "description": doc.body.get("description"),
            "query": doc.body["query"], "dashboard": doc.body.get("dashboard"),
            "created_at": iso(doc.created), "updated_at": iso(doc.updated)}


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
