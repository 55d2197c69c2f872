"""Building blocks shared by the Reports datasets: dimensions, flags, measure helpers.

The Reports API (Everruns-compatible) exposes a fixed semantic layer: per dataset a list
of dimensions (group-by and filter names) and named measures. Everything here is catalog
data; attribute keys are literals from ``telequery.semconv``, never request values.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from telequery import semconv as sc
from telequery.dialect import Dialect, Params, lit
from telequery.query.catalog import Builder, Field, catalog_attr, col
from telequery.query.ir import Agg, Measure, Op, ValueType

# The Reports filter operators (contract: eq | neq | in | gt | gte | lt | lte).
REPORT_OPS = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.GT, Op.GTE, Op.LT, Op.LTE})
TIME_MS = "__time_ms"
"""Hidden field: epoch ms of a row's newest event time (``max`` of it gives freshness)."""

COMMON_DIMENSIONS = ("session", "user", "principal", "agent", "agent_name", "harness",
                     "harness_name", "app", "blueprint", "day")


@dataclass(frozen=True)
class ReportSpec:
    """What the Reports catalog lists for one dataset, in the contract's order."""

    name: str
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    description: str = ""

    @property
    def filter_fields(self) -> tuple[str, ...]:
        return self.dimensions


def s_attr(key: str) -> Builder:
    """A string span/log attribute named by the catalog."""
    return catalog_attr("attrs_string", key)


def n_attr(key: str) -> Builder:
    """A numeric span/log attribute named by the catalog."""
    return catalog_attr("attrs_number", key)


def dim(name: str, build: Builder, description: str) -> Field:
    """A string dimension, filterable with the Reports operators."""
    return Field(name, ValueType.STRING, build, REPORT_OPS, description)


def num(name: str, build: Builder, description: str = "") -> Field:
    """A hidden numeric field a measure aggregates (not a dimension)."""
    return Field(name, ValueType.NUMBER, build, description=description, groupable=False)


def c(name: str) -> exp.Expression:
    return exp.column(name, quoted=True)


def flag(cond: exp.Expression) -> exp.Expression:
    """1 when ``cond`` holds, else 0 (NULL counts as false): count measures sum it."""
    return exp.If(this=cond, true=lit(1), false=lit(0))


def eq(e: exp.Expression, value: object) -> exp.Expression:
    return exp.EQ(this=e, expression=lit(value))


def zero(e: exp.Expression) -> exp.Expression:
    """NULL -> 0, so sums over optional attributes stay sums."""
    return exp.Coalesce(this=e, expressions=[lit(0)])


def gen_ai_spans(*operations: str) -> Builder:
    """Spans whose ``gen_ai.operation.name`` is one of ``operations``."""
    def build(d: Dialect, p: Params) -> exp.Expression:
        kind = eq(c("kind"), "span")
        if len(operations) == 1:
            return exp.and_(kind, eq(c("operation"), operations[0]))
        return exp.and_(kind, exp.In(this=c("operation"),
                                     expressions=[lit(o) for o in operations]))
    return build


def event_dimensions(with_turn: bool) -> dict[str, Field]:
    """The common dimensions of a dataset whose rows are single spans or log records.

    Follows the OTel GenAI conventions (``gen_ai.conversation.id`` is the session,
    ``gen_ai.agent.id``/``gen_ai.agent.name``, ``user.id``) plus the ``telequery.*``
    reporting context frameworks propagate onto every child span.
    """
    fields = [
        dim("session", col("conversation_id"), "gen_ai.conversation.id"),
        dim("user", col("user_id"), "user.id"),
        dim("principal", s_attr(sc.PRINCIPAL), sc.PRINCIPAL),
        dim("agent", col("agent_id"), "gen_ai.agent.id"),
        dim("agent_name", col("agent_name"), "gen_ai.agent.name"),
        dim("harness", s_attr(sc.HARNESS_ID), sc.HARNESS_ID),
        dim("harness_name", s_attr(sc.HARNESS_NAME), sc.HARNESS_NAME),
        dim("app", s_attr(sc.APP), sc.APP),
        dim("blueprint", s_attr(sc.BLUEPRINT), sc.BLUEPRINT),
        dim("day", lambda d, p: d.utc_date(c("timestamp")), "UTC date of the event time"),
    ]
    if with_turn:
        fields.append(dim("turn", s_attr(sc.TURN_ID), sc.TURN_ID))
    out = {f.name: f for f in fields}
    out[TIME_MS] = num(TIME_MS, lambda d, p: d.epoch_ms(c("timestamp")), "event time")
    return out


def total(name: str, field: str) -> Measure:
    """``COALESCE(SUM(field), 0)`` (weighted by sample_interval on event datasets)."""
    return Measure(Agg.SUM, field, alias=name)


def avg_nonzero(name: str, field: str) -> Measure:
    """``AVG(NULLIF(field, 0))``, 0 when no row has a value."""
    return Measure(Agg.AVG_NONZERO, field, alias=name)


def count(name: str) -> Measure:
    """Rows (weighted by sample_interval on event datasets)."""
    return Measure(Agg.COUNT, None, alias=name)


def measures(*ms: Measure) -> dict[str, Measure]:
    return {m.name: m for m in ms}
