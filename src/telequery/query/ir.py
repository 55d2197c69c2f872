"""The query IR every API adapter produces and the compiler consumes.

Plain frozen dataclasses with no SQL in them: an adapter parses its vendor shape into a
``Query``; the compiler turns a ``Query`` into SQL for one dialect. Field names in the IR
are catalog names (``$metadata.service``, ``agentName``, ``user.id``), never columns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Union

from telequery.query.limits import MAX_FILTER_DEPTH  # noqa: F401 - the IR's own bound


class Op(StrEnum):
    """Filter operators. Negative operators also match rows where the field is absent."""

    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    INCLUDES = "includes"
    NOT_INCLUDES = "not_includes"
    STARTS_WITH = "starts_with"
    NOT_STARTS_WITH = "not_starts_with"
    ENDS_WITH = "ends_with"
    NOT_ENDS_WITH = "not_ends_with"
    REGEX = "regex"
    EXISTS = "exists"
    IS_NULL = "is_null"
    BETWEEN = "between"  # [lo, hi], both inclusive
    ARRAY_HAS_ANY = "array_has_any"
    ARRAY_HAS_NONE = "array_has_none"


NEGATIVE_OPS = {Op.NEQ, Op.NOT_IN, Op.NOT_INCLUDES, Op.NOT_STARTS_WITH, Op.NOT_ENDS_WITH,
                Op.ARRAY_HAS_NONE}
LIST_OPS = {Op.IN, Op.NOT_IN, Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE}
STRING_OPS = {Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH, Op.ENDS_WITH,
              Op.NOT_ENDS_WITH, Op.REGEX}
UNARY_OPS = {Op.EXISTS, Op.IS_NULL}


class ValueType(StrEnum):
    """Type of a field as the APIs see it."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"  # array of strings (e.g. a span's teams)


class Agg(StrEnum):
    """Aggregate functions. ``count`` and ``sum``/``avg`` weigh rows by sample_interval."""

    COUNT = "count"
    UNIQ = "uniq"
    SUM = "sum"
    AVG = "avg"
    AVG_NONZERO = "avg_nonzero"  # AVG(NULLIF(x, 0)), 0 when none (Reports avg_* measures)
    MIN = "min"
    MAX = "max"
    MEDIAN = "median"
    P001 = "p001"
    P01 = "p01"
    P05 = "p05"
    P10 = "p10"
    P25 = "p25"
    P50 = "p50"
    P75 = "p75"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"
    P999 = "p999"
    STDDEV = "stddev"
    VARIANCE = "variance"


QUANTILES: dict[Agg, float] = {
    Agg.MEDIAN: 0.5, Agg.P001: 0.001, Agg.P01: 0.01, Agg.P05: 0.05, Agg.P10: 0.10,
    Agg.P25: 0.25, Agg.P50: 0.5, Agg.P75: 0.75, Agg.P90: 0.90, Agg.P95: 0.95, Agg.P99: 0.99,
    Agg.P999: 0.999,
}
# Aggregates that are 0 (not null) over no rows.
ZERO_WHEN_EMPTY = {Agg.COUNT, Agg.UNIQ, Agg.SUM, Agg.AVG_NONZERO}


@dataclass(frozen=True)
class TimeRange:
    """Half-open ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.start >= self.end:
            raise ValueError("time range start must be before its end")

    @classmethod
    def from_ms(cls, start_ms: int, end_ms: int) -> TimeRange:
        return cls(_from_ms(start_ms), _from_ms(end_ms))

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> TimeRange:
        """The window of equal length that ends where this one starts (for compare)."""
        return TimeRange(self.start - self.span, self.start)


def _from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def instant_ms(ms: int) -> datetime:
    """An aware datetime from epoch milliseconds (OverflowError past year 9999)."""
    return _from_ms(ms)


def to_us(t: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly (no float rounding)."""
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Condition:
    """A filter leaf: ``field op value``. ``type`` picks the typed attribute map."""

    field: str
    op: Op
    value: object = None
    type: ValueType | None = None


@dataclass(frozen=True)
class FilterGroup:
    """``and``/``or`` over leaves and nested groups."""

    combinator: str  # "and" | "or"
    children: tuple[Filter, ...]


Filter = Union[Condition, FilterGroup]  # noqa: UP007 - runtime alias used in isinstance


@dataclass(frozen=True)
class Measure:
    """An aggregate over a field (``field`` None for a plain row count)."""

    agg: Agg
    field: str | None = None
    alias: str | None = None
    type: ValueType | None = None

    @property
    def name(self) -> str:
        """Output column name: the alias, else ``agg`` or ``agg(field)``."""
        if self.alias:
            return self.alias
        return self.agg.value if self.field is None else f"{self.agg.value}({self.field})"


@dataclass(frozen=True)
class Dimension:
    """A group-by key."""

    field: str
    type: ValueType | None = None
    alias: str | None = None
    bins: tuple[float, ...] = ()  # histogram edges: group by the bin index (0-based) instead

    @property
    def name(self) -> str:
        return self.alias or self.field


@dataclass(frozen=True)
class Having:
    """A predicate on a measure's value after aggregation."""

    measure: str  # Measure.name
    op: Op  # eq | neq | gt | gte | lt | lte
    value: float


@dataclass(frozen=True)
class OrderBy:
    """Sort by a measure or dimension name."""

    key: str
    descending: bool = True


@dataclass(frozen=True)
class Bucketing:
    """Time buckets aligned to the Unix epoch: a fixed interval, or a target count."""

    interval_seconds: float | None = None
    count: int | None = None

    def step_us(self, time_range: TimeRange) -> int:
        """Bucket width in microseconds; by count, the span divided up (at least 1 s)."""
        if self.interval_seconds is not None:
            return max(1, round(self.interval_seconds * 1_000_000))
        span_us = to_us(time_range.end) - to_us(time_range.start)
        n = max(1, self.count or 1)
        step = -(-span_us // n)
        return max(1_000_000, -(-step // 1_000_000) * 1_000_000)


@dataclass(frozen=True)
class Needle:
    """Free-text search over every text field of an event."""

    value: str
    regex: bool = False
    match_case: bool = False


@dataclass(frozen=True)
class Query:
    """One query over one dataset, for the authenticated org (added by the compiler)."""

    dataset: str
    time_range: TimeRange
    filter: Filter | None = None
    measures: tuple[Measure, ...] = ()
    group_by: tuple[Dimension, ...] = ()
    havings: tuple[Having, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int = 0
    bucket: Bucketing | None = None
    needle: Needle | None = None
    compare: bool = False
    datasets: tuple[str, ...] = ()  # restrict to these stored datasets (events.dataset)
    select: tuple[str, ...] = ()  # rows mode: fields to return; empty = stored columns
    # rows mode without ``select``: the stored columns to return (empty = all of them);
    # a page reads only what its view shows (every column costs a decode per row group)
    columns: tuple[str, ...] = ()

    def shifted_to(self, time_range: TimeRange) -> Query:
        return replace(self, time_range=time_range, compare=False)


def filter_depth(f: Filter | None) -> int:
    """Nesting depth: a leaf is 0, a group of leaves is 1."""
    if f is None or isinstance(f, Condition):
        return 0
    return 1 + max((filter_depth(c) for c in f.children), default=0)


def conditions(f: Filter | None) -> list[Condition]:
    """Every leaf of a filter tree, in order."""
    if f is None:
        return []
    if isinstance(f, Condition):
        return [f]
    return [c for child in f.children for c in conditions(child)]
