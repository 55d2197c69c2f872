"""Measures -> SQL aggregates (part of the compiler).

A mixin of ``compile._Compiler``, split out by domain: weighting by sample_interval,
exact percentiles and the NULL rules of each aggregate live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from telequery.dialect import lit
from telequery.query.ir import QUANTILES, Agg, Measure, ValueType

if TYPE_CHECKING:
    from telequery.dialect import Dialect, Params
    from telequery.query.catalog import Dataset, Field


class Measures:
    """SELECT-list aggregates for the IR measures."""

    d: Dialect
    p: Params
    ds: Dataset

    def _field(self, name: str, type: ValueType | None = None) -> Field:
        raise NotImplementedError

    def _measure(self, m: Measure) -> exp.Expression:
        d = self.d
        w = exp.column(self.ds.weight, quoted=True) if self.ds.weight else None
        if m.field is None:  # only count: checked by the binder
            total = exp.Sum(this=w) if w is not None else exp.Count(this=exp.Star())
            return exp.Coalesce(this=total, expressions=[lit(0)])
        f = self._field(m.field, m.type or (ValueType.STRING if m.agg in (Agg.COUNT, Agg.UNIQ)
                                             else ValueType.NUMBER))
        e = f.build(d, self.p)
        if m.agg is Agg.COUNT:
            present = exp.Not(this=exp.Is(this=e, expression=exp.null()))
            if w is None:
                return exp.Count(this=e)
            return exp.Coalesce(this=exp.Sum(this=exp.If(this=present, true=w, false=lit(0))),
                                expressions=[lit(0)])
        if m.agg is Agg.UNIQ:
            return d.uniq(e)
        num = d.to_double(e)
        if m.agg is Agg.SUM:
            total = exp.Sum(this=exp.Mul(this=num, expression=w) if w is not None else num)
            return exp.Coalesce(this=total, expressions=[lit(0)])
        if m.agg is Agg.AVG:
            if w is None:
                return exp.Avg(this=num)
            weight_present = exp.Sum(this=exp.If(
                this=exp.Not(this=exp.Is(this=num, expression=exp.null())), true=w,
                false=lit(0)))
            return exp.Div(this=exp.Sum(this=exp.Mul(this=num, expression=w)),
                           expression=exp.Nullif(this=weight_present, expression=lit(0)))
        if m.agg is Agg.AVG_NONZERO:
            return exp.Coalesce(this=exp.Avg(this=exp.Nullif(this=num, expression=lit(0))),
                                expressions=[lit(0)])
        if m.agg is Agg.MIN:
            return exp.Min(this=e)
        if m.agg is Agg.MAX:
            return exp.Max(this=e)
        if m.agg in QUANTILES:
            return d.quantile(num, QUANTILES[m.agg])
        if m.agg is Agg.STDDEV:
            return d.stddev(num)
        if m.agg is Agg.VARIANCE:
            return d.variance(num)
        raise NotImplementedError(m.agg)  # pragma: no cover - every Agg is handled above
