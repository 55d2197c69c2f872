"""Gateway ``metrics/query`` request -> IR, checking the whole request first.

Every problem is reported together, because gateway clients show the list to the user.
This module checks the request's shape (JSON types, required members, the upstream
spellings of operators, aggregations and intervals) and resolves upstream names
case-insensitively; whether a field exists, takes an operator and a value, or can be
measured is the binder's one validation pass (``telequery.query.bind``), whose located
problems are translated here into the gateway's wording (``_translate``). What upstream
is stricter about stays here: JSON values of exactly the field's type (no ``"12"`` for a
number) and no aggregation over an array column. Nothing from the request reaches SQL
except as a bound value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from telequery.query import (
    Agg,
    Bucketing,
    Condition,
    Dataset,
    Dimension,
    Field,
    FilterGroup,
    Measure,
    Op,
    Problem,
    Problems,
    Query,
    QueryError,
    TimeRange,
    ValueType,
    bind,
)
from telequery.query import dataset as catalog_dataset
from telequery.query.datasets.gateway import METADATA_PREFIX, MONTHS_PREFIX
from telequery.query.limits import MAX_BUCKETS

DATASOURCES = ("agentMetrics", "modelMetrics", "mcpMetrics", "guardrailMetrics",
               "cacheMetrics", "configMetrics")
UPSTREAM_ONLY = ("routingMetrics",)  # the UI's name; the API's literal is configMetrics
TYPES = ("distribution", "timeseries")

AGGREGATIONS: dict[str, Agg] = {
    "count": Agg.COUNT, "countDistinct": Agg.UNIQ, "sum": Agg.SUM, "avg": Agg.AVG,
    "min": Agg.MIN, "max": Agg.MAX, "p50": Agg.P50, "p75": Agg.P75, "p90": Agg.P90,
    "p95": Agg.P95, "p99": Agg.P99,
}
ANY_COLUMN_AGGS = {Agg.COUNT, Agg.UNIQ, Agg.MIN, Agg.MAX}
"""Aggregations that make sense on any scalar column; the rest need a number."""

OPERATORS: dict[str, Op] = {
    "EQUAL": Op.EQ, "NOT_EQUAL": Op.NEQ, "IN": Op.IN, "NOT_IN": Op.NOT_IN,
    "GREATER_THAN": Op.GT, "LESS_THAN": Op.LT, "GREATER_THAN_EQUAL": Op.GTE,
    "LESS_THAN_EQUAL": Op.LTE, "BETWEEN": Op.BETWEEN, "IS_NULL": Op.IS_NULL,
    "STRING_CONTAINS": Op.INCLUDES, "STRING_NOT_CONTAINS": Op.NOT_INCLUDES,
    "STRING_STARTS_WITH": Op.STARTS_WITH, "STRING_NOT_STARTS_WITH": Op.NOT_STARTS_WITH,
    "STRING_ENDS_WITH": Op.ENDS_WITH, "STRING_NOT_ENDS_WITH": Op.NOT_ENDS_WITH,
    "ARRAY_HAS_ANY": Op.ARRAY_HAS_ANY, "ARRAY_HAS_NONE": Op.ARRAY_HAS_NONE,
}
_LIST_OPS = {Op.IN, Op.NOT_IN, Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE}
_TEXT_OPS = {Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH, Op.ENDS_WITH,
             Op.NOT_ENDS_WITH}

UNIT_SECONDS: dict[str, int | None] = {
    "second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800,
    "month": None,  # calendar months, bucketed by the month dimension
}
_INTERVAL = re.compile(r"^\s*(-?\d+)\s+([A-Za-z]+)\s*$")
_COMPOUND = re.compile(r"^\s*(\d+\s+[A-Za-z]+\s*){2,}$")

SUBJECT = "createdBySubjectSlug"
# groupBy names answered under another key (the gateway's response naming).
GROUP_ALIASES = {"useremail": SUBJECT, "virtualaccount": SUBJECT, "createdbysubjectslug": SUBJECT}
MONTH_DIM = "__month"
_STAND_IN = datetime(2000, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
TOTAL = "total"


def body_schema() -> dict[str, object]:
    """The request body as a JSON schema, for the OpenAPI document (the body is checked
    by ``parse``, which lists every problem, so the framework does not validate it)."""
    string = {"type": "string"}
    filter_value = {"description": "a string, number, boolean or array, as the operator "
                                   "needs (IS_NULL: true or false)"}
    return {
        "type": "object",
        "required": ["startTs", "endTs", "datasource", "type"],
        "properties": {
            "startTs": {**string, "format": "date-time"},
            "endTs": {**string, "format": "date-time"},
            "datasource": {"type": "string", "enum": list(DATASOURCES)},
            "type": {"type": "string", "enum": list(TYPES)},
            # optional members: null means absent, as the parser reads them
            "interval": {"type": ["string", "null"],
                         "description": '"<n> <unit>", e.g. "5 minute"; units: '
                                        + ", ".join(UNIT_SECONDS)},
            "intervalInSeconds": {"type": ["integer", "null"], "description": "deprecated: "
                                  "positive seconds per bucket (timeseries only)"},
            "aggregations": {"type": ["array", "null"], "items": {
                "type": "object", "required": ["type", "column"], "properties": {
                    "type": {"type": "string", "enum": list(AGGREGATIONS)},
                    "column": string}}},
            "groupBy": {"type": ["array", "null"], "items": string},
            "filters": {"type": ["array", "null"], "items": {
                "type": "object", "required": ["operator"], "properties": {
                    "fieldName": string, "metadataKey": string,
                    "operator": {"type": "string", "enum": list(OPERATORS)},
                    "value": filter_value}}},
        },
    }


class InvalidRequest(Exception):
    """The request has problems; ``details`` lists every one, in request order."""

    def __init__(self, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.details = details


@dataclass
class Plan:
    """The IR query plus what the response needs to name and lay out its rows."""

    query: Query
    kind: str  # distribution | timeseries
    step_seconds: int | None = None
    months: int | None = None
    group_keys: list[str] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    boolean_keys: frozenset[str] = frozenset()  # values to answer as JSON booleans


def parse_interval(value: object) -> tuple[int | None, int | None, str | None]:
    """``"<n> <unit>"`` -> (seconds, months, problem); exactly one of the three is set."""
    if not isinstance(value, str):
        return None, None, f'interval must be a string like "5 minute", got {value!r}'
    if _COMPOUND.match(value):
        return None, None, f'interval "{value}" is compound; use a single "<n> <unit>"'
    m = _INTERVAL.match(value)
    if m is None:
        return None, None, f'interval "{value}" must look like "<n> <unit>", e.g. "5 minute"'
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit not in UNIT_SECONDS and unit.endswith("s"):
        unit = unit[:-1]
    if unit not in UNIT_SECONDS:
        return None, None, (f'interval "{value}" has unknown unit "{m.group(2)}" (use '
                            f"{', '.join(UNIT_SECONDS)}, singular or plural)")
    if n <= 0:
        return None, None, f'interval "{value}" must be a positive number of {unit}s'
    seconds = UNIT_SECONDS[unit]
    return (None, n, None) if seconds is None else (n * seconds, None, None)


def _time(body: dict, key: str, problems: list[str]) -> datetime | None:
    value = body.get(key)
    if value is None:
        problems.append(f'"{key}" is required (ISO-8601 timestamp)')
        return None
    if not isinstance(value, str):
        problems.append(f'"{key}" must be an ISO-8601 timestamp string, got {value!r}')
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(f'"{key}" is not an ISO-8601 timestamp: {value!r}')
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _lookup(ds: Dataset) -> dict[str, Field]:
    return {name.lower(): f for name, f in ds.fields.items()}


def _value_problem(name: str, f: Field, opname: str, op: Op, value: object) -> str | None:
    """Why ``value`` does not fit ``op`` on field ``f``, or None."""
    where = f'Filter on "{name}" with operator "{opname}"'
    if op is Op.IS_NULL:
        return None if isinstance(value, bool) else f"{where} needs true or false"
    if op in _LIST_OPS:
        if not isinstance(value, list) or not value:
            return f"{where} needs a non-empty array"
        bad = [v for v in value if not _scalar_fits(f, v)]
        return f"{where} has array items of the wrong type: {bad[:3]!r}" if bad else None
    if op is Op.BETWEEN:
        if not isinstance(value, list) or len(value) != 2 or \
                not all(_scalar_fits(f, v) for v in value):
            return f"{where} needs [low, high]"
        return None
    if op in _TEXT_OPS:
        return None if isinstance(value, str) else f"{where} needs a string"
    if not _scalar_fits(f, value):
        return f"{where} needs a {f.type.value}, got {value!r}"
    return None


def _scalar_fits(f: Field, v: object) -> bool:
    if f.type is ValueType.NUMBER:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if f.type is ValueType.BOOLEAN:
        return isinstance(v, bool)
    return isinstance(v, str)  # strings, and the elements of an array field


@dataclass
class _Item:
    """Where an IR element came from in the request, for translating its problems."""

    index: int
    name: str  # as the request spelled it
    operator: str = ""
    column_type: str = ""


def _filters(raw: object, ds: Dataset | None, problems: list[str]
             ) -> tuple[list[Condition], list[_Item]]:
    """Shape checks only; fields, operators and values are the binder's (see ``parse``)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        problems.append('"filters" must be an array')
        return [], []
    fields = _lookup(ds) if ds else {}
    out: list[Condition] = []
    items: list[_Item] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"filters[{i}] must be an object")
            continue
        opname = item.get("operator")
        op = OPERATORS.get(opname) if isinstance(opname, str) else None
        if op is None:
            problems.append(f'filters[{i}]: unknown operator {opname!r} (one of '
                            f"{', '.join(OPERATORS)})")
        has_field, has_meta = "fieldName" in item, "metadataKey" in item
        if has_field == has_meta:
            problems.append(f'filters[{i}] needs exactly one of "fieldName" or "metadataKey"')
            continue
        name = item["fieldName"] if has_field else item["metadataKey"]
        if not isinstance(name, str) or not name:
            problems.append(f"filters[{i}]: field name must be a non-empty string")
            continue
        if ds is None or op is None:
            continue
        f = fields.get(name.lower())  # upstream names are case-insensitive
        field = METADATA_PREFIX + name if has_meta else (f.name if f else name)
        out.append(Condition(field, op, item.get("value")))
        items.append(_Item(i, name, str(opname)))
    return out, items


def _strict(ds: Dataset, c: Condition, item: _Item) -> str | None:
    """Upstream takes JSON types as they are (no "12" for 12): refuse what the binder
    would coerce. Only asked of conditions the binder accepted."""
    return _value_problem(item.name, ds.field(c.field), item.operator, c.op, c.value)


def _measures(raw: object, ds: Dataset | None, problems: list[str]
              ) -> tuple[list[Measure], dict[int, _Item]]:
    """The measures (``total`` first) and, by IR position, the aggregation each came from."""
    measures = [Measure(Agg.COUNT, alias=TOTAL)]
    items: dict[int, _Item] = {}
    if raw is None:
        return measures, items
    if not isinstance(raw, list):
        problems.append('"aggregations" must be an array')
        return measures, items
    fields = _lookup(ds) if ds else {}
    seen = {TOTAL}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"aggregations[{i}] must be an object with type and column")
            continue
        kind, column = item.get("type"), item.get("column")
        agg = AGGREGATIONS.get(kind) if isinstance(kind, str) else None
        if agg is None:
            problems.append(f"aggregations[{i}]: unknown aggregation type {kind!r} (one of "
                            f"{', '.join(AGGREGATIONS)})")
        if not isinstance(column, str) or not column:
            problems.append(f"aggregations[{i}]: column must be a non-empty string")
            continue
        if ds is None or agg is None:
            continue
        f = fields.get(column.lower())
        if f is not None and f.type is ValueType.ARRAY:  # upstream: arrays are not measured
            problems.append(f'Column "{column}" is an array and cannot be aggregated')
            continue
        name = f.name if f else column
        key = f"{kind}{name[0].upper()}{name[1:]}"
        if key not in seen:
            seen.add(key)
            items[len(measures)] = _Item(i, column, str(kind),
                                         f.type.value if f else "")
            measures.append(Measure(agg, name, alias=key))
    return measures, items


def _group_by(raw: object, ds: Dataset | None, problems: list[str]
              ) -> tuple[list[Dimension], dict[int, _Item]]:
    if raw is None:
        return [], {}
    if not isinstance(raw, list):
        problems.append('"groupBy" must be an array of column names')
        return [], {}
    fields = _lookup(ds) if ds else {}
    dims: list[Dimension] = []
    items: dict[int, _Item] = {}
    keys: set[str] = set()
    for i, name in enumerate(raw):
        if not isinstance(name, str) or not name:
            problems.append(f"groupBy[{i}] must be a non-empty string")
            continue
        if ds is None:
            continue
        target = GROUP_ALIASES.get(name.lower())
        f = fields.get((target or name).lower())
        key = f.name if f else name  # catalog names are already lowerCamelCase
        if key not in keys:
            keys.add(key)
            items[len(dims)] = _Item(i, name)
            dims.append(Dimension(key, alias=key))
    return dims, items


_INDEX = re.compile(r"^(filter(?:\.children\[(\d+)\])?|measures\[(\d+)\]|group_by\[(\d+)\]"
                    r"|bucket)")


def _condition(p: Problem) -> int | None:
    """Which filter condition a problem is about (the filter is the one condition, or an
    AND group of them, in request order), or None for other parts of the query."""
    m = _INDEX.match(p.path)
    return int(m.group(2) or 0) if m and m.group(0).startswith("filter") else None


def _translate(p: Problem, ds: Dataset, conds: list[Condition], conditions: list[_Item],
               measures: dict[int, _Item], dims: dict[int, _Item], interval: object
               ) -> tuple[int, str]:
    """A binder problem in the gateway's words, with its section's rank (the order the
    problems are listed in: aggregations, groupBy, filters)."""
    m = _INDEX.match(p.path)
    where = m.group(0) if m else ""
    if where.startswith("measures"):
        item = measures[int(m.group(3))]  # type: ignore[union-attr]
        if p.code == "unknown_field":
            return 0, f'Unknown aggregation column "{item.name}" for datasource "{ds.name}"'
        return 0, (f'Aggregation "{item.operator}" needs a numeric column; "{item.name}" is '
                   f"a {item.column_type}")
    if where.startswith("group_by"):
        item = dims[int(m.group(4))]  # type: ignore[union-attr]
        if p.code == "unknown_field":
            return 1, f'Unknown groupBy column "{item.name}" for datasource "{ds.name}"'
        return 1, f'Column "{item.name}" cannot be grouped by'
    k = _condition(p)
    if k is not None:
        item = conditions[k]
        if p.code == "unknown_field":
            return 2, f'Unknown field "{item.name}" for datasource "{ds.name}"'
        if p.code == "operator_not_allowed":
            return 2, f'Field "{item.name}" does not support operator "{item.operator}"'
        # the value: said as upstream says it when it is a shape it names
        return 2, (_strict(ds, conds[k], item) or
                   f'Filter on "{item.name}" with operator "{item.operator}": {p.reason}')
    if where == "bucket":
        return -1, (f"interval {interval} gives more than {MAX_BUCKETS} buckets between "
                    "startTs and endTs")
    return 2, p.reason


def parse(body: object) -> Plan:
    """Validate a whole request body and build its plan; raise InvalidRequest listing all
    problems."""
    if not isinstance(body, dict):
        raise InvalidRequest(["Request body must be a JSON object"])
    problems: list[str] = []
    start, end = _time(body, "startTs", problems), _time(body, "endTs", problems)
    if start and end and start >= end:
        problems.append('"endTs" must be after "startTs"')

    source = body.get("datasource")
    ds: Dataset | None = None
    if source in DATASOURCES:
        ds = catalog_dataset(str(source))
    elif source in UPSTREAM_ONLY:
        problems.append(f'datasource "{source}" is not supported (use one of '
                        f"{', '.join(DATASOURCES)})")
    else:
        problems.append(f"Unknown datasource {source!r} (one of {', '.join(DATASOURCES)})")

    kind = body.get("type")
    if kind not in TYPES:
        problems.append(f'"type" must be "distribution" or "timeseries", got {kind!r}')

    step = months = None
    # a bucket size is checked when sent (a distribution does not use it), required for
    # a timeseries
    if body.get("interval") is not None:
        step, months, problem = parse_interval(body["interval"])
        if problem:
            problems.append(problem)
    elif body.get("intervalInSeconds") is not None:
        raw = body["intervalInSeconds"]
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0 or \
                raw != int(raw):
            problems.append(f'"intervalInSeconds" must be a positive integer, got {raw!r}')
        else:
            step = int(raw)
    elif kind == "timeseries":
        problems.append('"interval" is required for timeseries queries (e.g. "1 hour")')
    if kind != "timeseries":
        step = months = None

    measures, measure_items = _measures(body.get("aggregations"), ds, problems)
    dims, dim_items = _group_by(body.get("groupBy"), ds, problems)
    conds, cond_items = _filters(body.get("filters"), ds, problems)
    if ds is None:  # nothing to bind names against
        raise InvalidRequest(problems)
    where = (None if not conds else conds[0] if len(conds) == 1
             else FilterGroup("and", tuple(conds)))
    timed = start is not None and end is not None and start < end
    # with a bad window the rest is still checked (and listed), over a stand-in window
    window = TimeRange(start, end) if timed else TimeRange(_STAND_IN, _STAND_IN + _HOUR)  # type: ignore[arg-type]
    bucket = Bucketing(interval_seconds=step) if step and not months and timed else None
    query = Query(dataset=ds.name, time_range=window, filter=where,
                  measures=tuple(measures), group_by=tuple(dims), bucket=bucket)
    try:  # one validation pass: fields, operators, values, bucket grid
        bind(query, ds)
        found: list[Problem] = []
    except Problems as e:
        found = e.problems
    except QueryError as e:  # a request-size limit, checked before anything else
        raise InvalidRequest([e.reason]) from None
    ranked = [_translate(p, ds, conds, cond_items, measure_items, dim_items,
                         body.get("interval") or step) for p in found]
    refused = {_condition(p) for p in found}
    for k, (c, item) in enumerate(zip(conds, cond_items, strict=True)):
        if k not in refused and (problem := _strict(ds, c, item)):
            ranked.append((2, problem))
    if ranked or problems:
        order = sorted(range(len(ranked)), key=lambda i: ranked[i][0])  # stable in a rank
        raise InvalidRequest(problems + [ranked[i][1] for i in order])
    assert start is not None and end is not None
    group_keys = [d.name for d in dims]
    # Engines spell a boolean result differently (ClickHouse: 0/1); answer true/false.
    booleans = frozenset(
        [d.name for d in dims if ds.field(d.field).type is ValueType.BOOLEAN]
        + [m.name for m in measures if m.field and m.agg in (Agg.MIN, Agg.MAX)
           and ds.field(m.field).type is ValueType.BOOLEAN])
    if months:
        query = replace(query, group_by=(Dimension(f"{MONTHS_PREFIX}{months}",
                                                   alias=MONTH_DIM), *dims))
    return Plan(query, str(kind), step, months, group_keys, measures, booleans)
