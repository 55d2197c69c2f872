"""Compact, bounded tool results: a table is its column names once and rows of values;
long strings are cut with a marker; rows and bytes are bounded, and the result says
which bound applied, so a model knows when it saw only part."""

from __future__ import annotations

from typing import Any

import orjson

MAX_ROWS = 200
MAX_BYTES = 32_000
MAX_STRING = 300
MARKER = "…[truncated]"


def _cell(v: Any) -> Any:
    if isinstance(v, str) and len(v) > MAX_STRING:
        return v[:MAX_STRING] + MARKER
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _cell(x) for k, x in list(v.items())[:50]}
    if isinstance(v, list):
        return [_cell(x) for x in v[:50]]
    return v


def table(columns: list[str], rows: list[list[Any]] | list[tuple], *,
          max_rows: int = MAX_ROWS, more: bool = False, **extra: Any) -> dict[str, Any]:
    """``{columns, rows, row_count, truncated, bounds}`` within ``max_rows`` and
    ``MAX_BYTES``; ``more`` says the source already had more rows than it sent."""
    kept = [[_cell(v) for v in row] for row in rows[:max_rows]]
    cut = more or len(rows) > max_rows
    body: dict[str, Any] = {"columns": columns, "rows": kept}
    while kept and len(orjson.dumps(body, default=str)) > MAX_BYTES:
        kept = kept[: max(1, len(kept) * 3 // 4)] if len(kept) > 1 else []
        body["rows"] = kept
        cut = True
    body.update(extra)
    body["row_count"] = len(kept)
    body["truncated"] = cut
    body["bounds"] = (f"at most {max_rows} rows and {MAX_BYTES:,} bytes; strings over "
                      f"{MAX_STRING} characters end with {MARKER}")
    return body


def span_tree(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """A trace's spans depth first, with their depth: a tree in a table. Spans whose
    parent is not in the trace are roots."""
    spans = [dict(zip(columns, r, strict=True)) for r in rows]
    ids = {s["$metadata.spanId"] for s in spans}
    children: dict[str | None, list[dict]] = {}
    for s in spans:
        parent = s["$metadata.parentSpanId"]
        children.setdefault(parent if parent in ids else None, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: s["$metadata.startTime"] or 0)
    start = min((s["$metadata.startTime"] or 0 for s in spans), default=0)
    out: list[list[Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            out.append([depth, s["$metadata.spanId"], s["$metadata.spanName"],
                        s["$metadata.service"], (s["$metadata.startTime"] or 0) - start,
                        s["$metadata.duration"], s["$metadata.status"], s["$metadata.error"],
                        s.get("$metadata.model"), s.get("$metadata.inputTokens"),
                        s.get("$metadata.outputTokens"), s.get("$metadata.cost")])
            if len(out) < 10_000:
                walk(s["$metadata.spanId"], depth + 1)

    walk(None, 0)
    return table(["depth", "span_id", "name", "service", "start_offset_ms", "duration_ms",
                  "status", "error", "model", "input_tokens", "output_tokens", "cost"], out)
