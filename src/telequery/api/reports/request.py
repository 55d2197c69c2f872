"""Reports request shapes (pydantic, for parsing and OpenAPI) and their checks -> IR.

Pydantic checks types and sizes; ``to_query`` checks the rest of the contract's table
(catalog names, duplicates, value shapes, time range) and builds the IR ``Query``. Every
rejection names the offending field, with the same dotted path pydantic uses
(``filters.0.value``), prefixed by where the query sits (``query.`` in a saved report).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from telequery.api.errors import ApiError
from telequery.query import Condition, Dimension, FilterGroup, Op, OrderBy, Query, TimeRange
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


class SavedExportRequest(BaseModel):
    format: Literal["csv", "json"] = "csv"


class Dashboard(BaseModel):
    title: str | None = None
    section: str | None = None
    chart_type: str | None = None
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


def to_query(q: ReportQuery, prefix: str = "") -> Query:
    """Check ``q`` against the contract and the catalog; return the IR query."""
    spec = REPORTS.get(q.dataset)
    if spec is None:
        raise bad(prefix + "dataset", f"unknown dataset {q.dataset!r}; expected one of "
                                      f"{', '.join(REPORTS)}", "unknown_dataset")
    start, end = q.time_range.from_, q.time_range.to
    if start >= end:
        raise bad(prefix + "time_range", "time_range.from must be before time_range.to")
    if end - start > MAX_SPAN:
        raise bad(prefix + "time_range", f"time_range spans more than {MAX_SPAN.days} days",
                  "limit_exceeded")
    _names(q.dimensions, spec.dimensions, "dimension", prefix + "dimensions", q.dataset)
    _names(q.measures, spec.measures, "measure", prefix + "measures", q.dataset)
    conditions = [_condition(f, spec.filter_fields, f"{prefix}filters.{i}", q.dataset)
                  for i, f in enumerate(q.filters)]
    order = [_order(o, q, f"{prefix}order_by.{i}") for i, o in enumerate(q.order_by)]
    return Query(
        dataset=q.dataset,
        time_range=TimeRange(start, end),
        filter=FilterGroup("and", tuple(conditions)) if conditions else None,
        measures=tuple(report_measure(q.dataset, m) for m in q.measures),
        group_by=tuple(Dimension(d) for d in q.dimensions),
        order_by=tuple(order),
        limit=q.limit,
    )


def _names(names: list[str], allowed: tuple[str, ...], what: str, field: str,
           dataset: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in allowed:
            raise bad(f"{field}.{i}", f"unknown {what} {name!r} for dataset {dataset!r}",
                      f"unknown_{what}")
        if name in seen:
            raise bad(f"{field}.{i}", f"duplicate {what} {name!r}")
        seen.add(name)


def _condition(f: ReportFilter, allowed: tuple[str, ...], field: str, dataset: str
               ) -> Condition:
    if f.field not in allowed:
        raise bad(f"{field}.field", f"{f.field!r} is not a filter field of dataset "
                                    f"{dataset!r}", "unknown_filter_field")
    if f.op == "in":
        if not isinstance(f.value, list) or not f.value or not all(_scalar(v)
                                                                   for v in f.value):
            raise bad(f"{field}.value", "operator 'in' needs a non-empty array of strings, "
                                        "numbers or booleans")
        return Condition(f.field, Op.IN, tuple(f.value))
    if not _scalar(f.value):
        raise bad(f"{field}.value", f"operator {f.op!r} needs a single string, number or "
                                    f"boolean")
    return Condition(f.field, Op(f.op), f.value)


def _order(o: ReportOrderBy, q: ReportQuery, field: str) -> OrderBy:
    if (o.dimension is None) == (o.measure is None):
        raise bad(field, "set exactly one of dimension or measure")
    if o.dimension is not None and o.dimension not in q.dimensions:
        raise bad(f"{field}.dimension", f"order by dimension {o.dimension!r} is not among "
                                        f"the query's dimensions")
    if o.measure is not None and o.measure not in q.measures:
        raise bad(f"{field}.measure", f"order by measure {o.measure!r} is not among the "
                                      f"query's measures")
    return OrderBy(o.dimension or o.measure or "", descending=o.direction == "desc")
