"""Filter trees and the needle -> SQL predicates (part of the compiler).

A mixin of ``compile._Compiler``: it needs the dialect, the parameter collector, the
dataset and field lookup that the compiler holds. Split out by domain to keep each
module readable; nothing outside the compiler uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from telequery.query.errors import OperatorNotAllowed
from telequery.query.ir import (
    LIST_OPS,
    Condition,
    Filter,
    Needle,
    Op,
    ValueType,
)
from telequery.schema import Logical

if TYPE_CHECKING:
    from telequery.dialect import Dialect, Params
    from telequery.query.catalog import Dataset, Field


class Predicates:
    """WHERE-clause building: leaves, groups, negations and the needle."""

    d: Dialect
    p: Params
    ds: Dataset

    def _field(self, name: str, type: ValueType | None = None) -> Field:
        raise NotImplementedError

    def _filter(self, f: Filter | None) -> exp.Expression | None:
        if f is None:
            return None
        if isinstance(f, Condition):
            return self._condition(f)
        parts = [self._filter(c) for c in f.children]
        parts = [x for x in parts if x is not None]
        if not parts:
            return None
        return exp.paren(exp.and_(*parts, copy=False) if f.combinator == "and"
                         else exp.or_(*parts, copy=False), copy=False)

    def _condition(self, c: Condition) -> exp.Expression:
        f = self._field(c.field, c.type)  # operator and value: checked by the binder
        e = f.build(self.d, self.p)
        if c.op is Op.EXISTS:
            return exp.Not(this=exp.Is(this=e, expression=exp.null()))
        if c.op is Op.IS_NULL:
            want_null = True if c.value is None else bool(c.value)
            is_null = exp.Is(this=e, expression=exp.null())
            return is_null if want_null else exp.Not(this=is_null)
        positive = self._positive(f, e, c)
        if c.op in (Op.NEQ, Op.NOT_IN, Op.NOT_INCLUDES, Op.NOT_STARTS_WITH, Op.NOT_ENDS_WITH,
                    Op.ARRAY_HAS_NONE):
            # Negations match rows where the field is absent (NULL), as users expect.
            return exp.Not(this=exp.Coalesce(this=positive, expressions=[exp.false()]))
        return positive

    def _positive(self, f: Field, e: exp.Expression, c: Condition) -> exp.Expression:
        """The positive form of a leaf (NEQ -> EQ, NOT_IN -> IN, ...), from bound values."""
        d = self.d
        op = c.op
        if op in LIST_OPS:
            values = list(c.value)  # type: ignore[call-overload]
            if op in (Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE):
                arr = exp.Array(expressions=[self.p.bind(v, Logical.STRING) for v in values])
                return d.list_has_any(e, arr)
            return exp.In(this=e, expressions=[self.p.bind(v, f.logical) for v in values])
        if op is Op.BETWEEN:
            lo, hi = c.value  # type: ignore[misc]
            return exp.Between(this=e, low=self.p.bind(lo, f.logical),
                               high=self.p.bind(hi, f.logical))
        if op is Op.REGEX:
            return d.regex(self._as_text(f, e), self.p.bind(c.value, Logical.STRING))
        if op in (Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH, Op.NOT_STARTS_WITH,
                  Op.ENDS_WITH, Op.NOT_ENDS_WITH):
            text = self._as_text(f, e)
            value = self.p.bind(c.value, Logical.STRING)
            if op in (Op.INCLUDES, Op.NOT_INCLUDES):
                return d.contains(text, value)
            if op in (Op.STARTS_WITH, Op.NOT_STARTS_WITH):
                return d.starts_with(text, value)
            return d.ends_with(text, value)
        value = self.p.bind(c.value, f.logical)
        compare = {Op.EQ: exp.EQ, Op.NEQ: exp.EQ, Op.GT: exp.GT, Op.GTE: exp.GTE,
                   Op.LT: exp.LT, Op.LTE: exp.LTE}[op]
        return compare(this=e, expression=value)

    def _as_text(self, f: Field, e: exp.Expression) -> exp.Expression:
        """Text operators apply to string fields only (the catalog's operator sets)."""
        if f.type is not ValueType.STRING:
            raise OperatorNotAllowed(f.name, "a text operator on a non-string field")
        return e

    def _needle(self, needle: Needle | None) -> exp.Expression | None:
        if needle is None or needle.value == "":
            return None
        d = self.d
        texts = [exp.column(c, quoted=True) for c in self.ds.needle_columns]
        joined = [d.array_to_text(d.map_values(exp.column(m, quoted=True)))
                  for m in self.ds.needle_maps]
        texts += joined  # not empty: the binder refuses a needle on a dataset without text
        if needle.regex:  # a valid RE2 pattern: checked by the binder
            pattern = needle.value
            if not needle.match_case:
                pattern = "(?i)" + pattern
            value = self.p.bind(pattern, Logical.STRING)
            return _any_true([d.regex(t, value) for t in texts])
        value = self.p.bind(needle.value, Logical.STRING)
        hits = [_true(d.contains(t, value, needle.match_case)) for t in texts]
        n = len(texts) - len(joined)  # hits[:n] columns, hits[n:] joined map values
        like = None if needle.match_case or not n else d.ci_like(needle.value)
        if like is not None:
            pattern = self.p.bind(like, Logical.STRING)
            hits[:n] = [_true(d.ilike(t, pattern)) for t in texts[:n]]
        prefilter = None if needle.match_case or not joined else d.ci_prefilter(needle.value)
        if prefilter is not None:
            # Long joined values: a cheap superset test first, so the exact (lower-casing)
            # one runs only on the few rows that pass it (AND short-circuits per row).
            pre = self.p.bind(prefilter, Logical.STRING)
            hits[n:] = [exp.and_(_true(d.regex(t, pre)), h, copy=False)
                        for t, h in zip(joined, hits[n:], strict=True)]
        return exp.paren(exp.or_(*hits, copy=False))


def _true(e: exp.Expression) -> exp.Expression:
    """``e`` with NULL read as false."""
    return exp.Coalesce(this=e, expressions=[exp.false()])


def _any_true(hits: list[exp.Expression]) -> exp.Expression:
    return exp.paren(exp.or_(*[_true(h) for h in hits], copy=False))


