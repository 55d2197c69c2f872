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


_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cell(v: object) -> str:
    """A CSV cell as upstream writes it: text, with a leading ``'`` on anything a
    spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR, LF)."""
    text = "" if v is None else str(v)
    return "'" + text if text.startswith(_FORMULA) else text


def export_file(result: dict[str, Any], fmt: str, name: str | None) -> dict[str, Any]:
    """An export as upstream answers it. CSV: every cell double-quoted and
    formula-escaped, ``text/csv; charset=utf-8``; JSON: the whole result, pretty-printed.
    The file is ``report.<fmt>`` ad hoc, the slug of its name for a saved report."""
    names = [c["name"] for c in result["columns"]]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow([_cell(n) for n in names])
        for row in result["rows"]:
            writer.writerow([_cell(row[n]) for n in names])
        content, content_type = buf.getvalue(), "text/csv; charset=utf-8"
    else:
        content = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
        content_type = "application/json"
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "report").lower()).strip("-") or "report"
    out = {"format": fmt, "filename": f"{slug}.{fmt}", "content_type": content_type,
           "content": content, "as_of": result["as_of"]}
    if "freshness_lag_ms" in result:
        out["freshness_lag_ms"] = result["freshness_lag_ms"]
    return out


def saved_json(doc: Document) -> dict[str, Any]:
    """A SavedReport; ``description`` and ``dashboard`` are absent when unset or cleared,
    as upstream answers."""
    out: dict[str, Any] = {"id": doc.id, "name": doc.name, "query": doc.body["query"],
                           "created_at": iso(doc.created), "updated_at": iso(doc.updated)}
    for key in ("description", "dashboard"):
        if doc.body.get(key) is not None:
            out[key] = doc.body[key]
    return out


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
