"""Workers Observability request JSON -> IR, validating as it walks.

Every problem raises a 400 ``ApiError`` whose field is the JSON path of the offending
value (``parameters.filters[2].operation``), so a client sees what to fix. Names are
checked against the ``events`` catalog here, not only in the compiler, so errors carry
the request path rather than just the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

import re2

from telequery.api.errors import ApiError
from telequery.query import (
    STRING_OPS,
    UNARY_OPS,
    Agg,
    Condition,
    Dimension,
    Field,
    Filter,
    FilterGroup,
    Having,
    Measure,
    Needle,
    Op,
    OrderBy,
    Problems,
    Query,
    QueryError,
    TimeRange,
    ValueType,
    as_text,
    bind,
)
from telequery.query import dataset as catalog_dataset
from telequery.query.limits import MAX_FILTER_DEPTH

T = TypeVar("T")
DATASET = "events"
MAX_SPAN = timedelta(days=92)
MAX_LIMIT = 10_000
MAX_GRANULARITY = 1_000
VIEWS = ("events", "calculations", "invocations", "requests", "traces", "agents", "patterns")
CHART_TYPES = ("timeseries_and_aggregate", "timeseries", "aggregate", "distribution")

# Every spelling the SDK accepts (lower-case, symbols, legacy upper-case) -> IR operator.
OPERATIONS: dict[str, Op] = {
    "includes": Op.INCLUDES, "not_includes": Op.NOT_INCLUDES, "starts_with": Op.STARTS_WITH,
    "ends_with": Op.ENDS_WITH, "regex": Op.REGEX, "exists": Op.EXISTS, "is_null": Op.IS_NULL,
    "in": Op.IN, "not_in": Op.NOT_IN, "eq": Op.EQ, "neq": Op.NEQ, "gt": Op.GT, "gte": Op.GTE,
    "lt": Op.LT, "lte": Op.LTE, "=": Op.EQ, "!=": Op.NEQ, ">": Op.GT, ">=": Op.GTE,
    "<": Op.LT, "<=": Op.LTE, "INCLUDES": Op.INCLUDES, "DOES_NOT_INCLUDE": Op.NOT_INCLUDES,
    "MATCH_REGEX": Op.REGEX, "EXISTS": Op.EXISTS, "DOES_NOT_EXIST": Op.IS_NULL, "IN": Op.IN,
    "NOT_IN": Op.NOT_IN, "STARTS_WITH": Op.STARTS_WITH, "ENDS_WITH": Op.ENDS_WITH,
}
HAVING_OPS: dict[str, Op] = {"eq": Op.EQ, "neq": Op.NEQ, "gt": Op.GT, "gte": Op.GTE,
                             "lt": Op.LT, "lte": Op.LTE}
_LOWER_AGGS = ("uniq", "max", "min", "sum", "avg", "median", "p001", "p01", "p05", "p10",
               "p25", "p75", "p90", "p95", "p99", "p999", "stddev", "variance")
OPERATORS: dict[str, Agg] = {"count": Agg.COUNT, "COUNT": Agg.COUNT,
                             "COUNT_DISTINCT": Agg.UNIQ}
for _name in _LOWER_AGGS:
    OPERATORS[_name] = Agg(_name)
    if _name != "uniq":
        OPERATORS[_name.upper()] = Agg(_name)
TYPES = {"string": ValueType.STRING, "number": ValueType.NUMBER, "boolean": ValueType.BOOLEAN}


def bad(path: str, reason: str) -> ApiError:
    return ApiError(400, reason, path, "invalid_request")


# -- primitive checks ---------------------------------------------------------------------
def obj(v: object, path: str) -> dict:
    if not isinstance(v, dict):
        raise bad(path, "expected an object")
    return v


def lst(v: object, path: str) -> list:
    if not isinstance(v, list):
        raise bad(path, "expected an array")
    return v


def text(v: object, path: str, *, required: bool = True, max_len: int | None = None
         ) -> str | None:
    if v is None:
        if required:
            raise bad(path, "is required")
        return None
    if not isinstance(v, str):
        raise bad(path, "expected a string")
    if required and not v:
        raise bad(path, "must not be empty")
    if max_len is not None and len(v) > max_len:
        raise bad(path, f"must be at most {max_len} characters")
    return v


def flag(v: object, path: str) -> bool | None:
    if v is None:
        return None
    if not isinstance(v, bool):
        raise bad(path, "expected a boolean")
    return v


def number(v: object, path: str, *, lo: float | None = None, hi: float | None = None
           ) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise bad(path, "expected a number")
    if lo is not None and v < lo:
        raise bad(path, f"must be at least {lo:g}")
    if hi is not None and v > hi:
        raise bad(path, f"must be at most {hi:g}")
    return v


def integer(v: object, path: str, *, lo: int = 0, hi: int = MAX_LIMIT) -> int | None:
    n = number(v, path, lo=lo, hi=hi)
    if n is None:
        return None
    if int(n) != n:
        raise bad(path, "expected a whole number")
    return int(n)


def choice(v: object, path: str, allowed: tuple[str, ...] | dict) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or v not in allowed:
        raise bad(path, f"{v!r} is not one of {', '.join(allowed)}")
    return v


def known(v: object, path: str, table: dict[str, T], what: str) -> T:
    """``table[v]``: a required name, one of ``table``'s spellings (else a 400 naming it)."""
    if v is None:
        raise bad(path, "is required")
    if not isinstance(v, str) or v not in table:
        raise bad(path, f"{v!r} is not a known {what}")
    return table[v]


def vtype(v: object, path: str) -> ValueType | None:
    name = choice(v, path, tuple(TYPES))
    return TYPES[name] if name else None


def timeframe(b: dict, path: str = "timeframe") -> tuple[int, int, TimeRange]:
    """The required ``b[path]``: its ``from`` and ``to`` (epoch ms) and the range they span."""
    if b.get(path) is None:
        raise bad(path, "is required")
    t = obj(b[path], path)
    start = integer(t.get("from"), f"{path}.from", lo=0, hi=2**53)
    end = integer(t.get("to"), f"{path}.to", lo=0, hi=2**53)
    if start is None:
        raise bad(f"{path}.from", "is required")
    if end is None:
        raise bad(f"{path}.to", "is required")
    return start, end, time_range(start, end, path)


def time_range(start: int, end: int, path: str) -> TimeRange:
    if start >= end:
        raise bad(path, "'from' must be earlier than 'to'")
    try:
        tr = TimeRange.from_ms(start, end)
    except OverflowError:  # beyond year 9999: no datetime holds it
        raise bad(path, "is outside the supported range of years 1-9999") from None
    if tr.span > MAX_SPAN:
        raise bad(path, f"the timeframe spans more than {MAX_SPAN.days} days")
    return tr


def _field(key: str, type_: ValueType | None, path: str) -> Field:
    try:
        return catalog_dataset(DATASET).field(key, type_)
    except QueryError as e:
        raise bad(path, e.reason) from None


# -- filters and needle -------------------------------------------------------------------
def filters(v: object, combination: object, path: str, comb_path: str) -> Filter | None:
    """The top-level filter list combined with ``filterCombination`` (default and).

    This adapter reads the vendor shapes (groups, comma-separated lists, a value present);
    fields, operators and values are checked by the query layer's binder, whose first
    problem is answered here in this API's words at the vendor path it came from.
    """
    if v is None:
        return None
    where: dict[str, tuple[str, str, str, ValueType | None]] = {}
    nodes = [_node(n, f"{path}[{i}]", 0, f"filter.children[{i}]", where)
             for i, n in enumerate(lst(v, path))]
    comb = _combination(combination, comb_path)
    if not nodes:
        return None
    if len(nodes) == 1:
        flt: Filter = nodes[0]
        where = {("filter" + k.removeprefix("filter.children[0]")
                  if k.startswith("filter.children[0]") else k): w for k, w in where.items()}
    else:
        flt = FilterGroup(comb, tuple(nodes))
    return _bound(flt, where)


_PROBE = TimeRange.from_ms(0, 1)  # binding a filter does not depend on the time range


def _bound(flt: Filter, where: dict[str, tuple[str, str, str, ValueType | None]]) -> Filter:
    """``flt`` with its values bound, or the binder's first problem at its vendor path."""
    try:
        bound = bind(Query(DATASET, _PROBE, filter=flt), catalog_dataset(DATASET))
    except Problems as e:
        problem = e.problems[0]
        node = problem.path.removesuffix(".value")
        vpath, key, op_name, type_ = where.get(node, ("parameters.filters", problem.field,
                                                      "", None))
        if problem.code == "unknown_field":
            raise bad(f"{vpath}.key", problem.reason) from None
        if problem.code == "operator_not_allowed":
            kind = catalog_dataset(DATASET).field(key, type_).type.value
            raise bad(f"{vpath}.operation", f"{op_name!r} does not apply to {kind} field "
                                            f"{key!r}") from None
        raise bad(f"{vpath}.value", problem.reason) from None
    assert bound.filter is not None
    return bound.filter


def _combination(v: object, path: str) -> str:
    if v is None:
        return "and"
    if not isinstance(v, str) or v.lower() not in ("and", "or"):
        raise bad(path, f"{v!r} is not one of and, or, AND, OR")
    return v.lower()


def _node(v: object, path: str, depth: int, ir: str,
          where: dict[str, tuple[str, str, str, ValueType | None]]) -> Filter:
    n = obj(v, path)
    if n.get("kind") == "group" or ("filters" in n and "key" not in n):
        if depth >= MAX_FILTER_DEPTH:
            raise bad(path, f"filter groups nest deeper than {MAX_FILTER_DEPTH}")
        children = lst(n.get("filters"), f"{path}.filters")
        return FilterGroup(_combination(n.get("filterCombination"), f"{path}.filterCombination"),
                           tuple(_node(c, f"{path}.filters[{i}]", depth + 1,
                                       f"{ir}.children[{i}]", where)
                                 for i, c in enumerate(children)))
    if n.get("kind") not in (None, "filter"):
        raise bad(f"{path}.kind", f"{n.get('kind')!r} is not one of filter, group")
    key = text(n.get("key"), f"{path}.key")
    op_name = n.get("operation")
    op = known(op_name, f"{path}.operation", OPERATIONS, "operation")
    type_ = vtype(n.get("type"), f"{path}.type")
    where[ir] = (path, key, op_name, type_)  # type: ignore[assignment]
    value = _value(op, n.get("value"), f"{path}.value")
    return Condition(key, op, value, type_)  # type: ignore[arg-type]


def _value(op: Op, v: object, path: str) -> object:
    """The vendor's value shapes (the binder coerces and checks what they hold)."""
    if op in UNARY_OPS:
        return None
    if v is None:
        raise bad(path, f"operation {op.value!r} needs a value")
    if op in (Op.IN, Op.NOT_IN):
        items = [s.strip() for s in v.split(",")] if isinstance(v, str) else v
        if not isinstance(items, list):
            items = [items]
        items = [i for i in items if i != ""]
        if not items:
            raise bad(path, "needs at least one value (comma-separated)")
        return items
    if op in STRING_OPS and isinstance(v, (dict, list)):
        raise bad(path, "expected a string")
    return v


def _regex(pattern: str, path: str) -> None:
    try:
        re2.compile(pattern)
    except re2.error as e:
        raise bad(path, f"invalid RE2 regex: {e}") from None


def needle(v: object, path: str) -> Needle | None:
    if v is None:
        return None
    n = obj(v, path)
    value = n.get("value")
    if value is None or isinstance(value, (dict, list)):
        raise bad(f"{path}.value", "expected a string, number or boolean")
    s = as_text(value)
    is_regex = bool(flag(n.get("isRegex"), f"{path}.isRegex"))
    if is_regex:
        _regex(s, f"{path}.value")
    return Needle(s, is_regex, bool(flag(n.get("matchCase"), f"{path}.matchCase")))


def datasets(v: object, path: str) -> tuple[str, ...]:
    if v is None:
        return ()
    return tuple(text(d, f"{path}[{i}]") for i, d in enumerate(lst(v, path)))  # type: ignore


# -- parameters ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Calc:
    """One requested calculation; ``measure`` is named ``__c{i}`` in the IR."""

    operator: str
    key: str | None
    key_type: ValueType | None
    alias: str | None
    measure: Measure

    @property
    def label(self) -> str:
        """What havings and orderBy refer to: the alias, else the operator."""
        return self.alias or self.operator


@dataclass
class Parameters:
    calcs: list[Calc] = field(default_factory=list)
    group_by: tuple[Dimension, ...] = ()
    havings: tuple[Having, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    filter: Filter | None = None
    needle: Needle | None = None
    datasets: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict)


def parameters(v: object, path: str = "parameters") -> Parameters:
    p = obj(v, path)
    calcs = [_calc(c, f"{path}.calculations[{i}]", i)
             for i, c in enumerate(lst(p.get("calculations") or [], f"{path}.calculations"))]
    group_by = []
    for i, g in enumerate(lst(p.get("groupBys") or [], f"{path}.groupBys")):
        gp = f"{path}.groupBys[{i}]"
        g = obj(g, gp)
        name = text(g.get("value"), f"{gp}.value")
        type_ = vtype(g.get("type"), f"{gp}.type")
        f = _field(name, type_, f"{gp}.value")  # type: ignore[arg-type]
        if not f.groupable or f.type is ValueType.ARRAY:
            raise bad(f"{gp}.value", f"cannot group by {name!r}")
        group_by.append(Dimension(name, type_))  # type: ignore[arg-type]
    havings = []
    for i, h in enumerate(lst(p.get("havings") or [], f"{path}.havings")):
        hp = f"{path}.havings[{i}]"
        h = obj(h, hp)
        target = _calc_ref(calcs, text(h.get("key"), f"{hp}.key"), f"{hp}.key")  # type: ignore
        op = choice(h.get("operation"), f"{hp}.operation", HAVING_OPS)
        if op is None:
            raise bad(f"{hp}.operation", "is required")
        value = number(h.get("value"), f"{hp}.value")
        if value is None:
            raise bad(f"{hp}.value", "is required")
        havings.append(Having(target, HAVING_OPS[op], float(value)))
    order_by: list[OrderBy] = []
    if p.get("orderBy") is not None:
        o = obj(p["orderBy"], f"{path}.orderBy")
        name = text(o.get("value"), f"{path}.orderBy.value")
        direction = choice(o.get("order"), f"{path}.orderBy.order", ("asc", "desc")) or "desc"
        groups = {d.name for d in group_by}
        key = name if name in groups else _calc_ref(calcs, name, f"{path}.orderBy.value")  # type: ignore
        order_by.append(OrderBy(key, direction == "desc"))  # type: ignore[arg-type]
    return Parameters(
        calcs=calcs, group_by=tuple(group_by), havings=tuple(havings), order_by=tuple(order_by),
        limit=integer(p.get("limit"), f"{path}.limit"),
        filter=filters(p.get("filters"), p.get("filterCombination"), f"{path}.filters",
                       f"{path}.filterCombination"),
        needle=needle(p.get("needle"), f"{path}.needle"),
        datasets=datasets(p.get("datasets"), f"{path}.datasets"), raw=p)


def _calc(v: object, path: str, i: int) -> Calc:
    c = obj(v, path)
    op_name = c.get("operator")
    agg = known(op_name, f"{path}.operator", OPERATORS, "operator")
    key = text(c.get("key"), f"{path}.key", required=agg is not Agg.COUNT)
    key_type = vtype(c.get("keyType"), f"{path}.keyType")
    alias = text(c.get("alias"), f"{path}.alias", required=False, max_len=250) or None
    if key is not None:
        default = ValueType.STRING if agg in (Agg.COUNT, Agg.UNIQ) else ValueType.NUMBER
        f = _field(key, key_type or default, f"{path}.key")
        if agg not in (Agg.COUNT, Agg.UNIQ, Agg.MIN, Agg.MAX) and \
                f.type not in (ValueType.NUMBER, ValueType.BOOLEAN):
            raise bad(f"{path}.key", f"{op_name} needs a numeric key; {key!r} is {f.type.value}")
        key_type = key_type or default
    return Calc(op_name, key, key_type, alias, Measure(agg, key, f"__c{i}", key_type))


def _calc_ref(calcs: list[Calc], name: str, path: str) -> str:
    """The IR measure name of the calculation ``name`` refers to (alias, else operator)."""
    for c in calcs:
        if c.label == name:
            return c.measure.name
    for c in calcs:
        if c.operator.lower() == name.lower() or OPERATORS.get(name) is c.measure.agg:
            return c.measure.name
    raise bad(path, f"{name!r} is not the alias or operator of a calculation")


# -- the query request --------------------------------------------------------------------
@dataclass
class QueryRequest:
    query_id: str
    from_ms: int
    to_ms: int
    time_range: TimeRange
    view: str
    params: Parameters
    parameters_given: bool
    limit: int | None = None
    offset: str | None = None
    offset_by: int = 0
    offset_direction: str = "next"
    dry: bool = False
    granularity: int | None = None
    chart: bool | None = None
    compare: bool = False
    ignore_series: bool = False
    chart_type: str = "timeseries_and_aggregate"
    distribution_scale: str = "log"
    pattern_type: str | None = None  # view "patterns": message | error (api/workers/patterns.py)


def query_request(body: object, saved: dict | None = None) -> QueryRequest:
    """Parse a ``telemetry/query`` body; ``saved`` are the parameters of the saved query
    ``queryId`` names, used when the body has none."""
    b = obj(body, "body")
    query_id = text(b.get("queryId"), "queryId")
    start, end, tr = timeframe(b)
    view = choice(b.get("view"), "view", VIEWS) or "calculations"
    given = b.get("parameters") is not None
    params = parameters(b["parameters"] if given else (saved or {}))
    chart_type = choice(b.get("chartType"), "chartType", CHART_TYPES) or \
        "timeseries_and_aggregate"
    compare = bool(flag(b.get("compare"), "compare"))
    if chart_type == "distribution" and compare:
        raise bad("compare", "chartType 'distribution' cannot be combined with compare")
    direction = choice(b.get("offsetDirection"), "offsetDirection", ("next", "prev")) or "next"
    return QueryRequest(
        query_id=query_id, from_ms=start, to_ms=end, time_range=tr, view=view,  # type: ignore
        params=params, parameters_given=given,
        limit=integer(b.get("limit"), "limit"),
        offset=text(b.get("offset"), "offset", required=False) or None,
        offset_by=integer(b.get("offsetBy"), "offsetBy", hi=10**9) or 0,
        offset_direction=direction,
        dry=bool(flag(b.get("dry"), "dry")),
        granularity=integer(b.get("granularity"), "granularity", lo=1, hi=MAX_GRANULARITY),
        chart=flag(b.get("chart"), "chart"),
        compare=compare,
        ignore_series=bool(flag(b.get("ignoreSeries"), "ignoreSeries")),
        chart_type=chart_type,
        distribution_scale=choice(b.get("distributionScale"), "distributionScale",
                                  ("log", "linear")) or "log",
        pattern_type=choice(b.get("patternType"), "patternType", ("message", "error")),
    )
