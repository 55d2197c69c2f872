"""Engine result -> gateway ``{"data": {"dataPoints": [...]}}``.

Only formatting happens here: keys are already the response names (the plan aliases
measures and dimensions), timestamps become ISO strings with milliseconds and ``Z``, and
whole-number floats (weighted counts) become integers. Month buckets are the one case
zero-filled here, because calendar months are not a fixed step the engine can fill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from telequery.api.gateway.request import MONTH_DIM, Plan
from telequery.api.timefmt import iso_ms
from telequery.query import ZERO_WHEN_EMPTY, to_us

if TYPE_CHECKING:
    from telequery.query import Result


_EXACT = 2.0**53


def _whole(column: tuple) -> list:
    """Whole-number floats (weighted counts) as integers, as the gateway sends them."""
    return [int(v) if isinstance(v, float) and v.is_integer() and -_EXACT < v < _EXACT else v
            for v in column]


def _month_us(index: int) -> int:
    """Months since 1970-01 -> epoch µs of that month's first instant (UTC)."""
    return to_us(datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC))


def data_points(plan: Plan, result: Result) -> list[dict[str, object]]:
    """One dict per row, group keys first, then ``total`` and the aggregations."""
    n_groups = len(plan.group_keys)
    measure_keys = [m.name for m in plan.measures]
    rows = result.rows
    if plan.months:
        rows = _fill_months(plan, rows)
    if plan.boolean_keys:
        rows = _booleans(plan, rows)
    if not rows:
        return []
    # column by column, then one dict per row: a week of hourly buckets for 9 agents
    # (1,512 points) in 1.2 ms instead of 2.1 ms row by row
    columns = list(zip(*rows, strict=True))
    lead = 0 if plan.kind == "distribution" else 1
    assert len(columns) == lead + n_groups + len(measure_keys), "unexpected result shape"
    measures = [_whole(c) for c in columns[len(columns) - len(measure_keys):]]
    if plan.kind == "distribution":
        keys = (*plan.group_keys, *measure_keys)
        return [dict(zip(keys, vals, strict=True))
                for vals in zip(*columns[:n_groups], *measures, strict=True)]
    keys = ("startTimestamp", "endTimestamp", *plan.group_keys, *measure_keys)
    step = None if plan.months else plan.step_seconds * 1_000_000  # type: ignore[operator]
    span = {}  # each bucket's bounds formatted once
    for b in dict.fromkeys(columns[0]):
        bounds = (_month_us(b), _month_us(b + plan.months)) if step is None else (b, b + step)
        span[b] = (iso_ms(bounds[0]), iso_ms(bounds[1]))
    starts = [span[b][0] for b in columns[0]]
    ends = [span[b][1] for b in columns[0]]
    # every column has one value per row (``zip(*rows, strict=True)`` above)
    return [dict(zip(keys, vals))  # noqa: B905
            for vals in zip(starts, ends, *columns[1:1 + n_groups], *measures)]  # noqa: B905


def _booleans(plan: Plan, rows: list[tuple]) -> list[tuple]:
    lead = 0 if plan.kind == "distribution" else 1
    names = [*plan.group_keys, *(m.name for m in plan.measures)]
    at = [lead + i for i, n in enumerate(names) if n in plan.boolean_keys]
    out = []
    for r in rows:
        row = list(r)
        for i in at:
            if row[i] is not None:
                row[i] = bool(row[i])
        out.append(tuple(row))
    return out


def _fill_months(plan: Plan, rows: list[tuple]) -> list[tuple]:
    """Every month bucket of the window for every group seen, as engine.zero_fill does."""
    assert plan.months is not None
    q, n = plan.query, plan.months
    first = _month_index(q.time_range.start) // n * n
    last = _month_index(q.time_range.end - timedelta(microseconds=1)) // n * n
    empty = tuple(0 if m.agg in ZERO_WHEN_EMPTY else None for m in plan.measures)
    found: dict[tuple, tuple] = {}
    groups: dict[tuple, None] = {}
    for r in rows:
        key = tuple(r[1:1 + len(plan.group_keys)])
        groups.setdefault(key, None)
        found[(int(r[0]), key)] = tuple(r[1 + len(plan.group_keys):])
    if not groups and not plan.group_keys:
        groups[()] = None
    ordered = sorted(groups, key=lambda k: tuple((1, 0) if v is None else (0, v) for v in k))
    return [(b, *g, *found.get((b, g), empty)) for b in range(first, last + 1, n)
            for g in ordered]


def _month_index(t: datetime) -> int:
    t = t.astimezone(UTC)
    return (t.year - 1970) * 12 + t.month - 1


__all__ = ["MONTH_DIM", "data_points"]
