"""Reports request shapes (pydantic, for parsing and OpenAPI) and their checks -> IR.

Pydantic checks types and sizes; ``to_query`` checks the rest of the contract's table
(catalog names, duplicates, value shapes, time range) and builds the IR ``Query``. Every
rejection names the offending field, with the same dotted path pydantic uses
(``filters.0.value``), prefixed by where the query sits (``query.`` in a saved report).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from telequery.api.errors import ApiError
from telequery.query import (
    Condition,
    Dimension,
    FilterGroup,
    Op,
    OrderBy,
    Problem,
    Problems,
    Query,
    QueryError,
    TimeRange,
    bind,
    dataset,
)
from telequery.query.datasets.reports import REPORTS, report_measure

MAX_SPAN = timedelta(days=370)
MAX_DIMENSIONS = 8
MAX_MEASURES = 16
MAX_FILTERS = 20
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

FilterOp = Literal["eq", "neq", "in", "gt", "gte", "lt", "lte"]


class ReportTimeRange(BaseModel):
    """``[from, to)`` in RFC 3339 with an offset."""

    model_config = ConfigDict(populate_by_name=True)

    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime


class ReportFilter(BaseModel):
    field: str
    op: FilterOp
    value: Any = None


class ReportOrderBy(BaseModel):
    dimension: str | None = None
    measure: str | None = None
    direction: Literal["asc", "desc"] = "asc"


class ReportQuery(BaseModel):
    """A semantic query: dataset, dimensions, measures, filters, order, limit."""

    dataset: str
    time_range: ReportTimeRange
    dimensions: list[str] = Field(default_factory=list, max_length=MAX_DIMENSIONS)
    measures: list[str] = Field(min_length=1, max_length=MAX_MEASURES)
    filters: list[ReportFilter] = Field(default_factory=list, max_length=MAX_FILTERS)
    order_by: list[ReportOrderBy] = Field(default_factory=list,
                                          max_length=MAX_DIMENSIONS + MAX_MEASURES)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    def as_json(self) -> dict[str, Any]:
        """The query as clients send it (``from``, not ``from_``), for saved reports."""
        return self.model_dump(mode="json", by_alias=True)


class ExportRequest(BaseModel):
    query: ReportQuery
    format: Literal["csv", "json"] = "csv"


class BackfillRequest(BaseModel):
    """Upstream's ``ReportingBackfillRequest`` (other keys are ignored, as its server's
    serde does and its schema allows)."""

    model_config = ConfigDict(extra="ignore")
    limit: int | None = Field(None, ge=-(2**63), le=2**63 - 1,
                              description="rows to enqueue (default 1000; int64 as upstream)")

    @field_validator("limit", mode="before")
    @classmethod
    def _not_a_flag(cls, v: object) -> object:
        if isinstance(v, bool):  # lax validation would read false as 0
            raise ValueError("expected an integer")
        return v


class SavedExportRequest(BaseModel):
    format: Literal["csv", "json"] = "csv"


class Dashboard(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    section: str | None = Field(default=None, max_length=100)
    chart_type: str | None = Field(default=None, max_length=64)
    position: int | None = None


class SavedReportCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    query: ReportQuery
    dashboard: Dashboard | None = None


class SavedReportPatch(BaseModel):
    """Only the fields present change; ``null`` clears description and dashboard."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    query: ReportQuery | None = None
    dashboard: Dashboard | None = None


def bad(field: str, reason: str, code: str = "invalid_query") -> ApiError:
    return ApiError(400, reason, field, code)


def _scalar(v: object) -> bool:
    return isinstance(v, (str, int, float, bool))


Found = list[tuple[str, str, str]]  # (request path, reason, code), in request order


def to_query(q: ReportQuery, prefix: str = "") -> Query:
    """Check ``q`` against the contract and the catalog; return the IR query, or raise
    one 400 listing every problem (RFC 9457 ``errors``).

    This module checks what is the Reports API's own: its vocabulary (which dimensions,
    measures and filter fields a dataset offers), duplicates, value shapes and the time
    range. Whether a value fits its field (types, operators, sizes) is the binder's one
    validation pass; its problems, located by IR path, are translated back to the
    request's paths (``_translate``).
    """
    spec = REPORTS.get(q.dataset)
    if spec is None:
        raise bad(prefix + "dataset", f"unknown dataset {q.dataset!r}; expected one of "
                                      f"{', '.join(REPORTS)}", "unknown_dataset")
    found: Found = []
    start, end = q.time_range.from_, q.time_range.to
    if start >= end:
        found.append((prefix + "time_range", "time_range.from must be before time_range.to",
                      "invalid_query"))
    elif end - start > MAX_SPAN:
        found.append((prefix + "time_range",
                      f"time_range spans more than {MAX_SPAN.days} days", "limit_exceeded"))
    _names(q.dimensions, spec.dimensions, "dimension", prefix + "dimensions", q.dataset,
           found)
    _names(q.measures, spec.measures, "measure", prefix + "measures", q.dataset, found)
    conditions: list[Condition] = []
    paths: list[str] = []
    for i, f in enumerate(q.filters):
        c = _condition(f, spec.filter_fields, f"{prefix}filters.{i}", q.dataset, found)
        if c is not None:
            conditions.append(c)
            paths.append(f"{prefix}filters.{i}")
    ordered = [_order(o, q, f"{prefix}order_by.{i}", found) for i, o in enumerate(q.order_by)]
    order = [o for o in ordered if o is not None]
    if found:
        _raise(found)
    query = Query(
        dataset=q.dataset,
        time_range=TimeRange(start, end),
        filter=FilterGroup("and", tuple(conditions)) if conditions else None,
        measures=tuple(report_measure(q.dataset, m) for m in q.measures),
        group_by=tuple(Dimension(d) for d in q.dimensions),
        order_by=tuple(order),
        limit=q.limit,
    )
    try:
        bind(query, dataset(q.dataset))
    except Problems as e:
        _raise([_translate(p, paths, prefix) for p in e.problems])
    except QueryError as e:  # a request-size limit (a list or value too long)
        _raise([(prefix + "filters", f"{e.field}: {e.reason}", e.code)])
    return query


def _raise(found: Found) -> None:
    (field, reason, code), *rest = found
    raise ApiError(400, reason, field, code, more=[(f, r) for f, r, _ in rest])


_FILTER = re.compile(r"^filter(?:\.children\[(\d+)\])?(\.value)?")


def _translate(p: Problem, filter_paths: list[str], prefix: str) -> tuple[str, str, str]:
    """A binder problem at its request path (``filters.2.value``, ``measures.0``...)."""
    m = _FILTER.match(p.path)
    if m:
        path = filter_paths[int(m.group(1) or 0)] + (".value" if m.group(2) else ".field")
        return path, p.reason, p.code
    for ir, request in (("measures", "measures"), ("group_by", "dimensions"),
                        ("order_by", "order_by")):
        if (m := re.match(rf"^{ir}\[(\d+)\]", p.path)):
            return f"{prefix}{request}.{m.group(1)}", p.reason, p.code
    return prefix + p.path, p.reason, p.code


def _names(names: list[str], allowed: tuple[str, ...], what: str, field: str,
           dataset: str, found: Found) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in allowed:
            found.append((f"{field}.{i}", f"unknown {what} {name!r} for dataset {dataset!r}",
                          f"unknown_{what}"))
        elif name in seen:
            found.append((f"{field}.{i}", f"duplicate {what} {name!r}", "invalid_query"))
        seen.add(name)


def _condition(f: ReportFilter, allowed: tuple[str, ...], field: str, dataset: str,
               found: Found) -> Condition | None:
    if f.field not in allowed:
        found.append((f"{field}.field", f"{f.field!r} is not a filter field of dataset "
                                        f"{dataset!r}", "unknown_filter_field"))
        return None
    if f.op == "in":
        if not isinstance(f.value, list) or not f.value or not all(_scalar(v)
                                                                   for v in f.value):
            found.append((f"{field}.value", "operator 'in' needs a non-empty array of "
                                            "strings, numbers or booleans", "invalid_query"))
            return None
        return Condition(f.field, Op.IN, tuple(f.value))
    if not _scalar(f.value):
        found.append((f"{field}.value", f"operator {f.op!r} needs a single string, number "
                                        f"or boolean", "invalid_query"))
        return None
    return Condition(f.field, Op(f.op), f.value)


def _order(o: ReportOrderBy, q: ReportQuery, field: str, found: Found) -> OrderBy | None:
    if (o.dimension is None) == (o.measure is None):
        found.append((field, "set exactly one of dimension or measure", "invalid_query"))
        return None
    if o.dimension is not None and o.dimension not in q.dimensions:
        found.append((f"{field}.dimension", f"order by dimension {o.dimension!r} is not "
                                            f"among the query's dimensions", "invalid_query"))
        return None
    if o.measure is not None and o.measure not in q.measures:
        found.append((f"{field}.measure", f"order by measure {o.measure!r} is not among "
                                          f"the query's measures", "invalid_query"))
        return None
    return OrderBy(o.dimension or o.measure or "", descending=o.direction == "desc")
