"""IR + dataset + dialect -> SQL text + bound parameters. The only place SQL is made.

Three query shapes:
- rows: matching rows, newest first (``measures`` and ``group_by`` empty);
- aggregate: one row per group (``bucket`` None);
- timeseries: one row per (bucket, group), restricted to the top groups of the
  aggregate when the query limits or filters groups. Empty buckets are filled by
  ``engine.zero_fill`` from the grid this module reports.

The tenant predicate and the time predicate are added here, from the ``org`` argument
(the authenticated principal) and ``Query.time_range``; no caller can leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from telequery.dialect import Dialect, Params, lit
from telequery.query import catalog
from telequery.query._measures import Measures
from telequery.query._predicates import Predicates
from telequery.query.bind import bind
from telequery.query.catalog import Dataset, Field
from telequery.query.errors import InvalidValue, QueryError
from telequery.query.ir import (
    FilterGroup,
    Measure,
    Op,
    Query,
    ValueType,
    to_us,
)
from telequery.schema import COLUMN_NAMES, Logical

BUCKET = "__bucket"
DERIVED = "telequery_derived"  # meta flag on a derived dataset's subquery


@dataclass
class Compiled:
    """SQL ready to run, and what the caller needs to read its rows."""

    sql: str
    params: dict[str, object]
    columns: list[str]
    shape: str  # rows | aggregate | timeseries
    dimensions: list[str] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    grid: tuple[int, int, int] | None = None  # (first bucket µs, end µs, step µs)


def compile_query(query: Query, org: str, dialect: Dialect) -> Compiled:
    """Compile ``query`` for ``org``. Raises QueryError subclasses on bad input.

    Results are cached by the exact (query, org, dialect, dataset definition): the IR is
    immutable and compiling is a pure function of it, and building the SQL with sqlglot
    costs 1-3 ms per statement, a large part of a small query's latency (dashboards
    re-issue the same queries). The key is the query's ``repr``, not the query, because
    equal-but-differently-typed values (``True == 1 == 1.0``) must not share an entry:
    they validate differently.
    """
    try:
        key = (repr(query), org, type(dialect), id(catalog.dataset(query.dataset)))
    except QueryError:  # unknown dataset: let the compiler report it
        return _Compiler(query, org, dialect).compile()
    hit = _CACHE.get(key)
    if hit is None:
        hit = _Compiler(query, org, dialect).compile()
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = hit
    # Callers get their own containers, so nothing they do can change the cached entry.
    return Compiled(hit.sql, dict(hit.params), list(hit.columns), hit.shape,
                    list(hit.dimensions), list(hit.measures), hit.grid)


CACHE_SIZE = 1024
_STORED = frozenset(COLUMN_NAMES)
_CACHE: dict[tuple, Compiled] = {}


def compile_relation(query: Query, org: str, dialect: Dialect, params: Params | None = None
                     ) -> tuple[exp.Expression, exp.Expression | None, Params]:
    """FROM and WHERE of ``query`` (tenant, time, datasets, filter, needle) and the params
    bound so far, for query/ modules that build their own SELECT on top (key discovery,
    SQL); ``params`` binds into a statement's shared set."""
    c = _Compiler(query, org, dialect)
    if params is not None:
        c.p = params
    rel, where = c._relation()
    return rel, where, c.p


class _Compiler(Predicates, Measures):
    def __init__(self, query: Query, org: str, dialect: Dialect) -> None:
        if not org:
            raise QueryError("org", "a query must be scoped to an org")
        self.q = query
        self.org = org
        self.d = dialect
        self.ds: Dataset = catalog.dataset(query.dataset)
        self.p = Params(dialect)
        self.q = bind(query, self.ds)  # every value checked and coerced; trusted below

    # -- entry --------------------------------------------------------------------------
    def compile(self) -> Compiled:
        if not self.q.measures and not self.q.group_by:
            return self._rows()
        if self.q.bucket is None:
            return self._aggregate()
        return self._timeseries()

    # -- relation and WHERE -------------------------------------------------------------
    def _relation(self) -> tuple[exp.Expression, exp.Expression | None]:
        """FROM clause and the WHERE that still applies on top of it."""
        d, p, q = self.d, self.p, self.q
        ts = exp.column("timestamp", quoted=True)
        scope = [
            exp.EQ(this=exp.column("org_id", quoted=True), expression=p.bind(self.org,
                                                                             Logical.STRING)),
            exp.GTE(this=ts, expression=p.bind(q.time_range.start, Logical.TIMESTAMP)),
            exp.LT(this=ts, expression=p.bind(q.time_range.end, Logical.TIMESTAMP)),
        ]
        if q.datasets:
            scope.append(exp.In(this=exp.column("dataset", quoted=True),
                                expressions=[p.bind(v, Logical.STRING) for v in q.datasets]))
        if self.ds.predicate is not None:
            scope.append(self.ds.predicate(d, p))
        events = exp.table_("events")  # to_table() would run the SQL parser per query
        user = [c for c in (self._filter(q.filter), self._needle(q.needle)) if c is not None]
        if self.ds.derive is None:
            return events, exp.and_(*scope, *user, copy=False)
        derived = self.ds.derive(d, p, exp.and_(*scope, copy=False)).subquery("r", copy=False)
        derived.meta[DERIVED] = True  # see _pruned
        return derived, exp.and_(*user, copy=False) if user else None

    def _source(self) -> tuple[exp.Expression, exp.Expression | None, list[exp.Expression]]:
        """FROM, WHERE, and the dimension expressions (unnesting array dimensions)."""
        rel, where = self._relation()
        dims: list[exp.Expression] = []
        unnest: list[exp.Expression] = []
        for i, dim in enumerate(self.q.group_by):
            f = self._field(dim.field, dim.type)  # groupable: checked by the binder
            if f.type is ValueType.ARRAY:
                name = f"__u{i}"
                unnest.append(exp.alias_(self.d.unnest_or_null(f.build(self.d, self.p)), name,
                                          copy=False))
                dims.append(exp.column(name))
            elif dim.bins:
                dims.append(self._bin(self.d.to_double(f.build(self.d, self.p)), dim.bins))
            else:
                dims.append(f.build(self.d, self.p))
        if unnest:
            inner = exp.select(exp.Star(), *unnest).from_(rel, copy=False)
            if where is not None:
                inner = inner.where(where, copy=False)
            return inner.subquery("u", copy=False), None, dims
        return rel, where, dims

    def _bin(self, value: exp.Expression, edges: tuple[float, ...]) -> exp.Expression:
        """Histogram bin index of ``value`` for ascending ``edges`` (n edges -> n-1 bins):
        below edges[1] is bin 0, at or above the last inner edge the last bin; NULL stays
        NULL."""
        ifs = [exp.If(this=exp.Is(this=value, expression=exp.null()), true=exp.null())]
        ifs += [exp.If(this=exp.LT(this=value, expression=self.p.bind(float(e), Logical.FLOAT)),
                       true=lit(i)) for i, e in enumerate(edges[1:-1])]
        return exp.Case(ifs=ifs, default=lit(len(edges) - 2))

    def _field(self, name: str, type: ValueType | None = None) -> Field:
        return self.ds.field(name, type)

    # -- shapes -------------------------------------------------------------------------
    def _grouped(self, dims: list[exp.Expression], rel: exp.Expression,
                 where: exp.Expression | None, bucket: exp.Expression | None = None
                 ) -> exp.Select:
        """SELECT [bucket,] dims, measures FROM rel WHERE ... GROUP BY ... HAVING ..."""
        q = self.q
        measures = [self._measure(m) for m in q.measures]
        lead = [exp.alias_(bucket, BUCKET, quoted=True, copy=False)] if bucket is not None else []
        sel = exp.select(*lead,
                         *[exp.alias_(e, f"__d{i}", quoted=True, copy=False)
                           for i, e in enumerate(dims)],
                         *[exp.alias_(e, f"__m{i}", quoted=True, copy=False)
                           for i, e in enumerate(measures)]).from_(rel, copy=False)
        if where is not None:
            sel = sel.where(where, copy=False)
        keys = ([bucket] if bucket is not None else []) + dims
        if keys:
            sel = sel.group_by(*keys, copy=False)
        by_name = {m.name: e for m, e in zip(q.measures, measures, strict=True)}
        havings = []
        for h in q.havings if bucket is None else ():  # checked by the binder
            cmp = {Op.EQ: exp.EQ, Op.NEQ: exp.NEQ, Op.GT: exp.GT, Op.GTE: exp.GTE,
                   Op.LT: exp.LT, Op.LTE: exp.LTE}[h.op]
            havings.append(cmp(this=by_name[h.measure],
                               expression=self.p.bind(float(h.value), Logical.FLOAT)))
        if havings:
            sel = sel.having(exp.and_(*havings, copy=False), copy=False)
        return sel

    def _order(self, dims: list[exp.Expression]) -> list[exp.Ordered]:
        """ORDER BY from the query, then every dimension ascending to break ties."""
        q = self.q
        dim_names = {d.name: i for i, d in enumerate(q.group_by)}
        measure_names = {m.name: i for i, m in enumerate(q.measures)}
        out: list[exp.Ordered] = []
        for o in q.order_by:
            if o.key in measure_names:
                ref = exp.column(f"__m{measure_names[o.key]}", quoted=True)
            else:  # a group: checked by the binder
                ref = exp.column(f"__d{dim_names[o.key]}", quoted=True)
            out.append(exp.Ordered(this=ref, desc=o.descending, nulls_first=False))
        if not q.order_by and q.measures and q.limit is not None and dims:
            out.append(exp.Ordered(this=exp.column("__m0", quoted=True), desc=True,
                                   nulls_first=False))
        out += [exp.Ordered(this=exp.column(f"__d{i}", quoted=True), desc=False,
                            nulls_first=False) for i in range(len(dims))]
        return out

    def _paged(self, sel: exp.Select, dims: list[exp.Expression]) -> exp.Select:
        order = self._order(dims)
        if order:
            sel = sel.order_by(*order, copy=False)
        if self.q.limit is not None:
            sel = sel.limit(lit(int(self.q.limit)), copy=False)
        if self.q.offset:
            sel = sel.offset(lit(int(self.q.offset)), copy=False)
        return sel

    def _aggregate(self) -> Compiled:
        rel, where, dims = self._source()
        sel = self._paged(self._grouped(dims, rel, where), dims)
        return self._done(sel, "aggregate")

    def _timeseries(self) -> Compiled:
        q, d = self.q, self.d
        assert q.bucket is not None
        step = q.bucket.step_us(q.time_range)
        start_us, end_us = to_us(q.time_range.start), to_us(q.time_range.end)
        first = start_us // step * step  # at most MAX_BUCKETS buckets: the binder checked
        rel, where, dims = self._source()
        bucket = d.bucket_us(exp.column(self.ds.time_column, quoted=True), step)
        if dims and (q.limit is not None or q.havings):
            # Only the top groups of the aggregate get a series: join on their keys,
            # NULL-safely, so a NULL group (e.g. non-agent traffic) keeps its series.
            top_rel, top_where, top_dims = self._source()
            top = self._paged(self._grouped(top_dims, top_rel, top_where), top_dims)
            keys = exp.select(*[exp.alias_(exp.column(f"__d{i}", quoted=True), f"__g{i}",
                                           quoted=True, copy=False) for i in range(len(dims))]
                              ).from_(top.subquery("t0", copy=False), copy=False)
            rel = exp.select(exp.Star()).from_(rel, copy=False).join(
                keys.subquery("top", copy=False), join_type="inner", copy=False,
                on=exp.and_(*[d.null_safe_eq(e, exp.column(f"__g{i}", "top", quoted=True))
                              for i, e in enumerate(dims)], copy=False))
            if where is not None:
                rel = rel.where(where, copy=False)
            rel, where = rel.subquery("s", copy=False), None
        sel = self._grouped(dims, rel, where, bucket=bucket)
        sel = sel.order_by(exp.Ordered(this=exp.column(BUCKET, quoted=True), desc=False),
                           *[exp.Ordered(this=exp.column(f"__d{i}", quoted=True), desc=False,
                                         nulls_first=False) for i in range(len(dims))],
                           copy=False)
        return self._done(sel, "timeseries", grid=(first, end_us, step))

    def _rows(self) -> Compiled:
        q = self.q
        rel, where = self._relation()
        select = q.select
        if not select and self.ds.derive is not None:
            # a derived relation (one row per trace, session...) has no stored columns:
            # its rows are its fields
            select = tuple(self.ds.fields)
        if select:
            fields = [self._field(name) for name in select]
            cols = [exp.alias_(f.build(self.d, self.p), f"__c{i}", quoted=True, copy=False)
                    for i, f in enumerate(fields)]
            names = list(select)
        else:
            names = list(q.columns or COLUMN_NAMES)
            unknown = [c for c in names if c not in _STORED]
            if unknown:  # the binder refused these; identifiers come from the schema only
                raise InvalidValue("columns", f"unknown stored column {unknown[0]!r}")
            cols = [exp.column(c, quoted=True) for c in names]
        sel = exp.select(*cols).from_(rel, copy=False)
        if where is not None:
            sel = sel.where(where, copy=False)
        order: list[exp.Ordered] = []
        for o in q.order_by:
            f = self._field(o.key)
            order.append(exp.Ordered(this=f.build(self.d, self.p), desc=o.descending,
                                     nulls_first=False))
        if not order:
            order = [exp.Ordered(this=exp.column(self.ds.time_column, quoted=True), desc=True)]
            if self.ds.derive is None:
                order.append(exp.Ordered(this=exp.column("id", quoted=True), desc=True))
        sel = sel.order_by(*order, copy=False)
        if q.limit is not None:
            sel = sel.limit(lit(int(q.limit)), copy=False)
        if q.offset:
            sel = sel.offset(lit(int(q.offset)), copy=False)
        return Compiled(self.d.render(self._finish(sel)), self.p.values, names, "rows")

    def _finish(self, tree: exp.Select) -> exp.Select:
        """Rewrites that keep the rows and make them cheaper to compute."""
        tree = _pruned(tree)
        if self.d.guard_in_lists:
            _guard_in_lists(tree)
        return tree

    def _done(self, sel: exp.Select, shape: str,
              grid: tuple[int, int, int] | None = None) -> Compiled:
        q = self.q
        columns = ([BUCKET] if grid else []) + [d.name for d in q.group_by] + \
            [m.name for m in q.measures]
        return Compiled(self.d.render(self._finish(sel)), self.p.values, columns, shape,
                        dimensions=[d.name for d in q.group_by], measures=list(q.measures),
                        grid=grid)


def _pruned(tree: exp.Select) -> exp.Select:
    """Drop the columns of derived relations that nothing outside them reads.

    Why: engines do not drop unused aggregates of a subquery (DuckDB computes every one,
    e.g. a COUNT(DISTINCT map lookup) nobody asked for), so a one-measure query over
    ``sessions`` paid for all of its rollups. Conservative: a column is kept when any
    column reference outside the relation, or inside its own clauses or kept columns,
    has its name; nothing is pruned from a DISTINCT relation, a set-returning column is
    never dropped, and a star projection at the top keeps everything.
    """
    if any(isinstance(e, exp.Star) for e in tree.expressions):
        return tree
    derived = [s for s in tree.find_all(exp.Subquery) if s.meta.get(DERIVED)]
    for sub in derived:
        inner = sub.this
        if not isinstance(inner, exp.Select) or inner.args.get("distinct"):
            continue
        used = _names(tree, skip=sub)
        for key in ("where", "group", "having", "order", "qualify"):
            node = inner.args.get(key)
            if node is not None:
                used |= _names(node)
        keep = {id(e) for e in inner.expressions if e.alias_or_name.lower() in used
                or e.find(exp.Unnest, exp.Explode) is not None}
        changed = True
        while changed:  # a kept column may refer to another one by its alias
            refs = {c.name.lower() for e in inner.expressions if id(e) in keep
                    for c in e.find_all(exp.Column)}
            extra = {id(e) for e in inner.expressions if id(e) not in keep
                     and e.alias_or_name.lower() in refs}
            keep |= extra
            changed = bool(extra)
        if keep and len(keep) < len(inner.expressions):
            inner.set("expressions", [e for e in inner.expressions if id(e) in keep])
    return tree


def _guard_in_lists(tree: exp.Expression) -> None:
    """``x IN (...)`` -> ``COALESCE(x IN (...), FALSE)`` where only AND/OR lead from a
    WHERE to it: there a row passes exactly when the IN is TRUE either way (see
    ``Dialect.guard_in_lists``). IN with a subquery is left alone."""
    for where in list(tree.find_all(exp.Where)):
        stack = [where.this]
        while stack:
            n = stack.pop()
            if isinstance(n, (exp.And, exp.Or)):
                stack += [n.this, n.expression]
            elif isinstance(n, exp.Paren):
                stack.append(n.this)
            elif isinstance(n, exp.In) and n.expressions and not n.args.get("query"):
                n.replace(exp.Coalesce(this=n.copy(), expressions=[exp.false()]))


def _names(node: exp.Expression, skip: exp.Expression | None = None) -> set[str]:
    """Lower-cased names of the columns referenced under ``node``, not looking into
    ``skip`` (walks the arguments, not parent links: builders may share nodes)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n is skip:
            continue
        if isinstance(n, exp.Column):
            out.add(n.name.lower())
        for v in n.args.values():
            if isinstance(v, exp.Expression):
                stack.append(v)
            elif isinstance(v, list):
                stack.extend(x for x in v if isinstance(x, exp.Expression))
    return out


__all__ = ["Compiled", "FilterGroup", "compile_query"]
