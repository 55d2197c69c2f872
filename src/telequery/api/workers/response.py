"""Engine results -> Workers Observability JSON (the SDK's ``TelemetryQueryResponse``).

Shapes and types follow the generated SDK models: times in series are ISO-8601 strings,
event times epoch milliseconds (integers), ``interval`` is the deprecated alias of
``sampleInterval``. Numbers the SDK types as ``int`` (duration, statusCode, coldStart) are
sent as integers so strict validation passes.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from fastapi.responses import Response

from telequery.api.timefmt import iso_ms
from telequery.api.workers.request import Calc
from telequery.query import Agg, Measure
from telequery.query.datasets.events import METADATA_COLUMNS
from telequery.schema import COLUMN_NAMES, COLUMNS, Logical

if TYPE_CHECKING:
    from telequery.query import Result

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_TYPES = frozenset({"fetch", "scheduled", "alarm", "cron", "queue", "email", "tail", "rpc",
                         "jsrpc", "websocket", "workflow", "unknown"})
# $metadata keys the SDK types differently from our columns: GenAI cost is USD (a float),
# the SDK's ``cost`` is integer "cost units"; it stays in ``source`` (gen_ai.usage.cost).
_SKIP_METADATA = frozenset({"cost", "dataset"})
_META = [(k, c, COLUMNS[c].logical) for k, c in METADATA_COLUMNS.items()
         if k not in _SKIP_METADATA]
# The stored columns ``event`` and ``_fields`` read: the views' pages select only these
# (org_id, sample_interval, cost, teams and resource are never shown; at 100M events
# leaving them out takes a one-conversation page from ~9.5 to ~7.6 ms).
EVENT_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMN_NAMES
    if c in {col for _, col, _ in _META} | {"dataset", "timestamp", "outcome", "trigger",
                                             "service", "request_id", "trace_id", "span_id",
                                             "duration_ms", "attrs_string", "attrs_number",
                                             "attrs_bool", "content"})
_TYPE_OF = {Logical.STRING: "string", Logical.INT: "number", Logical.FLOAT: "number",
            Logical.BOOL: "boolean", Logical.TIMESTAMP: "number"}


def ok(result: object, status: int = 200, **extra: object) -> Response:
    """Cloudflare's success envelope."""
    body = {"success": True, "errors": [], "messages": [{"message": "Successful request"}],
            "result": result, **extra}
    return Response(orjson.dumps(body, default=_default), status_code=status,
                    media_type="application/json")


def _default(v: object) -> object:
    if isinstance(v, decimal.Decimal):
        return float(v)
    raise TypeError(f"cannot serialise {type(v).__name__}")


def iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ms(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def number(v: object) -> object:
    """A calculation value: numbers as numbers, no value (empty bucket) as 0."""
    if v is None:
        return 0
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def default_count() -> Calc:
    return Calc("count", None, None, None, Measure(Agg.COUNT, None, "__c0"))


# -- calculations -------------------------------------------------------------------------
def _point(row: tuple, ci: int, ni: int, ri: int, dims: list[tuple[str, int]]
           ) -> dict[str, object]:
    count = float(number(row[ni]))  # type: ignore[arg-type]
    rows = round(float(number(row[ri])))  # type: ignore[arg-type]
    si = count / rows if rows else 1.0
    point: dict[str, object] = {"count": count, "interval": si, "sampleInterval": si,
                                "value": number(row[ci])}
    if dims:
        point["groups"] = [{"key": name, "value": row[i]} for name, i in dims
                           if row[i] is not None]
    return point


def calculations(calcs: list[Calc], dims: list[str], agg: Result | None,
                 series: Result | None) -> list[dict[str, object]]:
    out = []
    for c in calcs:
        item: dict[str, object] = {"calculation": c.operator, "aggregates": [], "series": []}
        if c.alias:
            item["alias"] = c.alias
        if agg is not None:
            cols = agg.columns
            d = [(n, cols.index(n)) for n in dims]
            ci, ni, ri = cols.index(c.measure.name), cols.index("__n"), cols.index("__r")
            item["aggregates"] = [_point(r, ci, ni, ri, d) for r in agg.rows]
        if series is not None:
            cols = series.columns
            d = [(n, cols.index(n)) for n in dims]
            ci, ni, ri = cols.index(c.measure.name), cols.index("__n"), cols.index("__r")
            buckets: list[dict[str, object]] = []
            current = None
            for r in series.rows:
                if r[0] != current:
                    current = r[0]
                    buckets.append({"time": iso_ms(r[0]), "data": []})
                buckets[-1]["data"].append(_point(r, ci, ni, ri, d))  # type: ignore[union-attr]
            item["series"] = buckets
        out.append(item)
    return out


def _label(v: float) -> str:
    return f"{v:.4g}"


def distribution(hist: Result, edges: list[float], scale: str) -> dict[str, object]:
    grid = hist.compiled.grid
    assert grid is not None
    first, end, step = grid
    times = list(range(first, end, step))
    at = {t: i for i, t in enumerate(times)}
    n_bins = len(edges) - 1
    matrix = [[0.0] * len(times) for _ in range(n_bins)]
    for bucket, b, count in hist.rows:
        if b is not None and count:
            matrix[int(b)][at[int(bucket)]] += float(count)
    return {"bins": [iso_ms(t) for t in times],
            "buckets": [f"{_label(edges[i])}–{_label(edges[i + 1])}" for i in range(n_bins)],
            "bucketBoundaries": edges, "bucketMode": scale, "matrix": matrix}


# -- events -------------------------------------------------------------------------------
class _Row:
    """Column positions of a full ``events`` row, computed once per page."""

    def __init__(self, columns: list[str]) -> None:
        self.at = {c: i for i, c in enumerate(columns)}


def _meta_value(v: object, column: str, logical: Logical) -> object:
    if logical is Logical.TIMESTAMP:
        return ms(v)  # type: ignore[arg-type]
    if logical is Logical.BOOL:
        return int(bool(v))
    if column == "duration_ms":
        return round(v)  # type: ignore[call-overload]
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def event(row: tuple, at: dict[str, int]) -> dict[str, object]:
    meta: dict[str, object] = {}
    for key, column, logical in _META:
        v = row[at[column]]
        if v is not None:
            meta[key] = _meta_value(v, column, logical)
    strings = row[at["attrs_string"]] or {}
    numbers = row[at["attrs_number"]] or {}
    bools = row[at["attrs_bool"]] or {}
    source = {**strings, **numbers, **bools}
    out: dict[str, object] = {"$metadata": meta, "dataset": row[at["dataset"]],
                              "source": source, "timestamp": ms(row[at["timestamp"]])}
    content = row[at["content"]] if "content" in at else None
    if content:  # prompts, completions, tool calls (telequery extension; ingest.content)
        out["$content"] = content
    outcome = row[at["outcome"]]
    # Every event of a worker invocation carries $workers: the invocation span (with its
    # outcome and times) and its logs and other spans (by the invocation id they share).
    if outcome is not None or row[at["request_id"]] is not None:
        trigger = row[at["trigger"]]
        workers: dict[str, object] = {
            "eventType": trigger if trigger in EVENT_TYPES else "unknown",
            "scriptName": strings.get("cloudflare.script_name") or row[at["service"]] or "",
        }
        if outcome is not None:
            workers["outcome"] = outcome
        for key, column in (("requestId", "request_id"), ("traceId", "trace_id"),
                            ("spanId", "span_id")):
            if row[at[column]] is not None:
                workers[key] = row[at[column]]
        cpu = numbers.get("cloudflare.cpu_time_ms")
        if cpu is not None:
            workers["cpuTimeMs"] = cpu
            workers["wallTimeMs"] = row[at["duration_ms"]] or 0.0
        out["$workers"] = workers
    return out


def _fields(events: list[dict[str, object]], rows: list[tuple], at: dict[str, int]
            ) -> list[dict[str, str]]:
    """Keys present in the page with their types."""
    seen: dict[str, str] = {}
    for e in events:
        for k in e["$metadata"]:  # type: ignore[union-attr]
            seen[f"$metadata.{k}"] = _TYPE_OF[COLUMNS[METADATA_COLUMNS[k]].logical]
    for r in rows:
        for m, t in (("attrs_string", "string"), ("attrs_number", "number"),
                     ("attrs_bool", "boolean")):
            for k in r[at[m]] or {}:
                seen.setdefault(k, t)
    return [{"key": k, "type": t} for k, t in sorted(seen.items())]


def events_view(columns: list[str], rows: list[tuple], series: Result,
                include_series: bool) -> dict[str, object]:
    at = _Row(columns).at
    events = [event(r, at) for r in rows]
    cols = series.columns
    ni, ri, ei = cols.index("__n"), cols.index("__r"), cols.index("__e")
    total = 0.0
    points = []
    for r in series.rows:
        count = float(number(r[ni]))  # type: ignore[arg-type]
        n = round(float(number(r[ri])))  # type: ignore[arg-type]
        si = count / n if n else 1.0
        total += count
        points.append({"time": iso_ms(r[0]), "data": [{
            "aggregates": {"_count": n, "_interval": si}, "count": count, "interval": si,
            "sampleInterval": si, "errors": float(number(r[ei]))}]})  # type: ignore[arg-type]
    out: dict[str, object] = {"count": total, "events": events,
                              "fields": _fields(events, rows, at)}
    if include_series:
        out["series"] = points
    return out


def invocations(columns: list[str], rows: list[tuple], request_ids: list[str]
                ) -> dict[str, list]:
    """Events by request id, invocations in ``request_ids`` order, events oldest first."""
    at = _Row(columns).at
    body: dict[str, list] = {rid: [] for rid in request_ids}
    rid_at = at["request_id"]
    for r in reversed(rows):
        body[r[rid_at]].append(event(r, at))
    return body
