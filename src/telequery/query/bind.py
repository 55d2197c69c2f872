"""The binder: one validation pass over an IR query, before any SQL is built.

It resolves every field a filter names, checks each operator against the field, coerces
each value to the field's type (``query.values``: the same rules for every API) and
compiles each regex (RE2), and returns the query with those values in place, or raises
``Problems`` listing every problem found, each located by its IR path and named by a code
(``unknown_field``, ``operator_not_allowed``, ``invalid_value``), in IR order. The
compiler binds the values it is given and no longer checks them. An adapter may report
the first problem (the Workers API does, through the common handler) or all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import re2

from telequery.query.catalog import Dataset, Field
from telequery.query.errors import InvalidValue, LimitExceeded, OperatorNotAllowed, QueryError
from telequery.query.ir import (
    LIST_OPS,
    STRING_OPS,
    UNARY_OPS,
    Agg,
    Condition,
    Dimension,
    Filter,
    FilterGroup,
    Having,
    Measure,
    Op,
    Query,
    ValueType,
    conditions,
    filter_depth,
    to_us,
)
from telequery.query.limits import (
    MAX_BUCKETS,
    MAX_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_GROUP_BY,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_MEASURES,
    MAX_NEEDLE_CHARS,
    MAX_VALUE_CHARS,
)
from telequery.query.values import as_text, coerce
from telequery.schema import COLUMN_NAMES

STORED_COLUMNS = frozenset(COLUMN_NAMES)
HAVING_OPS = frozenset({Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE})


@dataclass(frozen=True)
class Problem:
    path: str  # where in the IR: "filter.children[1].value", "needle.value", "group_by[0]"
    field: str  # the name the request used (what every API's message names)
    code: str
    reason: str


class Problems(QueryError):
    """Every problem of a query; behaves as its first one for adapters that report one."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        super().__init__(first.field, first.reason)
        self.code = first.code
        self.problems = problems


def bind(query: Query, ds: Dataset) -> Query:
    """``query`` with every filter value coerced and checked against ``ds``, or Problems.

    The request-size limits are checked first and stop at the first breach: a request
    past them is not walked at all (its cost must stay bounded by the limits).
    """
    if filter_depth(query.filter) > MAX_FILTER_DEPTH:
        raise LimitExceeded("filters", f"filter groups nest deeper than {MAX_FILTER_DEPTH}")
    check_size(query)
    problems: list[Problem] = []
    if query.limit is not None and not 0 <= query.limit <= MAX_LIMIT:
        problems.append(Problem("limit", "limit", LimitExceeded.code,
                                f"limit must be between 0 and {MAX_LIMIT}"))
    if query.offset < 0:
        problems.append(Problem("offset", "offset", InvalidValue.code,
                                "offset must not be negative"))
    bound = _filter(query.filter, ds, "filter", problems) if query.filter is not None \
        else None
    if query.needle is not None and query.needle.regex:
        _collect(problems, "needle.value", lambda: _regex("needle", query.needle.value))
    for i, dim in enumerate(query.group_by):
        _collect(problems, f"group_by[{i}]", lambda d=dim: _dimension(ds, d))
    for i, m in enumerate(query.measures):
        _collect(problems, f"measures[{i}]", lambda m=m: _measure(ds, m))
    for i, h in enumerate(query.havings):
        _collect(problems, f"havings[{i}]", lambda h=h: _having(ds, query, h))
    if query.bucket is not None:
        _collect(problems, "bucket", lambda: _buckets(query))
    if query.columns:
        unknown = [c for c in query.columns if c not in STORED_COLUMNS]
        if unknown:
            problems.append(Problem("columns", "columns", InvalidValue.code,
                                    f"unknown stored column {unknown[0]!r}"))
    for i, name in enumerate(query.select):
        _collect(problems, f"select[{i}]", lambda n=name: ds.field(n))
    if query.needle is not None and query.needle.value and not ds.needle_columns and \
            not ds.needle_maps:
        problems.append(Problem("needle.value", "needle", InvalidValue.code,
                                f"dataset {ds.name!r} has no text to search"))
    rows = not query.measures and not query.group_by
    names = {m.name for m in query.measures} | {d.name for d in query.group_by}
    for i, o in enumerate(query.order_by):
        _collect(problems, f"order_by[{i}]", lambda o=o: ds.field(o.key) if rows
                 else _order_key(o.key, names))
    if problems:
        raise Problems(problems)
    return replace(query, filter=bound) if bound is not query.filter else query


def _collect(problems: list[Problem], path: str, check) -> object:  # type: ignore[no-untyped-def]
    try:
        return check()
    except QueryError as e:
        problems.append(Problem(path, e.field, e.code, e.reason))
        return None


def _filter(f: Filter, ds: Dataset, path: str, problems: list[Problem]) -> Filter:
    if isinstance(f, Condition):
        value = _collect(problems, f"{path}.value", lambda: _value(ds, f))
        return f if value is None and f.value is None else replace(f, value=value)
    if f.combinator not in ("and", "or"):
        problems.append(Problem(f"{path}.combinator", "filterCombination", "invalid_value",
                                f"unknown combinator {f.combinator!r}"))
    children = tuple(_filter(c, ds, f"{path}.children[{i}]", problems)
                     for i, c in enumerate(f.children))
    return FilterGroup(f.combinator, children)


def _value(ds: Dataset, c: Condition) -> object:
    """The condition's value as the compiler binds it (raises the first problem)."""
    f = ds.field(c.field, c.type)
    if c.op not in f.allowed_ops:
        raise OperatorNotAllowed(c.field, c.op.value)
    if c.op in UNARY_OPS:
        return c.value
    if c.op in LIST_OPS:
        return _list(f, c)
    if c.op is Op.BETWEEN:
        if not isinstance(c.value, (list, tuple)) or len(c.value) != 2:
            raise InvalidValue(c.field, "operator 'between' needs [low, high]")
        return (coerce(f.type, c.value[0], c.field), coerce(f.type, c.value[1], c.field))
    if c.op is Op.REGEX:
        return _regex(c.field, c.value)
    if c.op in STRING_OPS:
        if isinstance(c.value, (dict, list, tuple)) or c.value is None:
            raise InvalidValue(c.field, f"operator {c.op.value!r} needs a string value")
        return as_text(c.value)
    return coerce(f.type, c.value, c.field)


def _list(f: Field, c: Condition) -> list[object]:
    if not isinstance(c.value, (list, tuple)) or not c.value:
        raise InvalidValue(c.field, f"operator {c.op.value!r} needs a non-empty array")
    if f.type is ValueType.ARRAY:
        return [as_text(v) for v in c.value]
    return [coerce(f.type, v, c.field) for v in c.value]


def _regex(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue(name, "regex needs a string pattern")
    try:
        re2.compile(value)
    except re2.error as e:
        raise InvalidValue(name, f"invalid RE2 regex: {e}") from None
    return value


def _dimension(ds: Dataset, dim: Dimension) -> None:
    if not ds.field(dim.field, dim.type).groupable:
        raise InvalidValue(dim.field, f"field {dim.field!r} cannot be grouped by")
    if dim.bins and (len(dim.bins) < 2 or list(dim.bins) != sorted(dim.bins)):
        raise InvalidValue("bins", "histogram edges must be at least two ascending values")


def check_size(query: Query) -> None:
    """Refuse a request bigger than ``query.limits`` (LimitExceeded names the limit)."""
    leaves = conditions(query.filter)
    if len(leaves) + len(query.havings) > MAX_CONDITIONS:
        raise LimitExceeded("filters", f"{len(leaves) + len(query.havings)} filter conditions; "
                                       f"at most {MAX_CONDITIONS} are allowed")
    for c in leaves:
        values = c.value if isinstance(c.value, (list, tuple)) else (c.value,)
        if len(values) > MAX_LIST_VALUES:
            raise LimitExceeded(c.field, f"{len(values)} values in one list; at most "
                                         f"{MAX_LIST_VALUES} are allowed")
        if any(isinstance(v, str) and len(v) > MAX_VALUE_CHARS for v in values):
            raise LimitExceeded(c.field, f"a filter value is longer than {MAX_VALUE_CHARS} "
                                         "characters")
    if query.needle is not None and len(query.needle.value) > MAX_NEEDLE_CHARS:
        raise LimitExceeded("needle", f"the needle is {len(query.needle.value)} characters; "
                                      f"at most {MAX_NEEDLE_CHARS} are allowed")
    if len(query.group_by) > MAX_GROUP_BY:
        raise LimitExceeded("group_by", f"{len(query.group_by)} group-bys; at most "
                                        f"{MAX_GROUP_BY} are allowed")
    if len(query.measures) > MAX_MEASURES:
        raise LimitExceeded("measures", f"{len(query.measures)} measures; at most "
                                        f"{MAX_MEASURES} are allowed")


def _buckets(query: Query) -> None:
    assert query.bucket is not None
    step = query.bucket.step_us(query.time_range)
    start_us, end_us = to_us(query.time_range.start), to_us(query.time_range.end)
    if (end_us - start_us // step * step) // step > MAX_BUCKETS:
        raise LimitExceeded("granularity", f"more than {MAX_BUCKETS} time buckets")


def _having(ds: Dataset, query: Query, h: Having) -> None:
    by_name = {m.name: m for m in query.measures}
    m = by_name.get(h.measure)
    if m is None:
        raise InvalidValue("havings", f"having refers to unknown calculation {h.measure!r}")
    if m.agg in (Agg.MIN, Agg.MAX) and m.field is not None and \
            ds.field(m.field, m.type).type is ValueType.STRING:
        raise InvalidValue("havings", f"having compares a number with the text "
                                      f"calculation {h.measure!r}")
    if h.op not in HAVING_OPS:
        raise OperatorNotAllowed("havings", h.op.value)


def _order_key(key: str, names: set[str]) -> None:
    if key not in names:
        raise InvalidValue("orderBy", f"order by refers to unknown calculation or group "
                                      f"{key!r}")


def _measure(ds: Dataset, m: Measure) -> None:
    """The field exists, and the aggregate applies to its type (count, uniq, min and max
    to any; the others to numbers and booleans)."""
    if m.field is None:
        if m.agg is not Agg.COUNT:
            raise InvalidValue(m.name, f"{m.agg.value} needs a field")
        return
    f = ds.field(m.field, m.type or (ValueType.STRING if m.agg in (Agg.COUNT, Agg.UNIQ)
                                     else ValueType.NUMBER))
    if m.agg not in (Agg.COUNT, Agg.UNIQ, Agg.MIN, Agg.MAX) and \
            f.type not in (ValueType.NUMBER, ValueType.BOOLEAN):
        raise InvalidValue(m.field, f"{m.agg.value} needs a numeric field")

