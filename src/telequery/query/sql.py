"""Tenant-safe SQL: an analyst's SELECT over the org's datasets, scoped by construction.

The statement is parsed with sqlglot (its standard dialect) and checked in one pass that
fails closed: exactly one statement; only SELECT / WITH / UNION / INTERSECT / EXCEPT;
every node of the tree of a type on an allow-list (so table functions, file readers,
``getenv``, settings, placeholders and anything unknown are refused); every function
from a documented set that both engines have; every table reference either a CTE of the
statement or one of the exposed tables (``TABLES``), without a schema or catalog
qualifier. Then every exposed-table reference is replaced by a subquery that the query
compiler builds for the caller's org and time range, with its values bound; CTEs are
renamed so that no name the engine resolves can reach a real table. Only then is the
tree rendered for the engine. A problem is a ``SqlError`` naming the offending part.

Tables: ``events`` (every stored column), ``spans`` and ``logs`` (the same, one kind),
and each catalog dataset (``traces``, ``sessions``, ``modelMetrics``...) with its fields
as columns. Attribute maps are read portably as ``attrs_string['key']`` (also
``attrs_number``, ``attrs_bool``, ``resource``, ``content``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from telequery.dialect import Dialect, Params, lit
from telequery.query import catalog
from telequery.query._compile import compile_relation
from telequery.query.datasets.events import ONCE_PER_CALL, once_per_call
from telequery.query.errors import QueryError
from telequery.query.ir import Query, TimeRange
from telequery.schema import COLUMN_NAMES, COLUMNS, Logical
from telequery.store.base import (
    Confined,
    StatementStopped,
    Stats,
    Store,
    StoreUnavailable,
    UnsafeStatement,
)

MAX_SQL_CHARS = 20_000
MAX_TABLE_REFS = 16
_MAPS = ("attrs_string", "attrs_number", "attrs_bool", "resource", "content")
_KINDS = {"events": None, "spans": "span", "logs": "log"}
_CTE_PREFIX = "__tq_cte_"
_SET_OPS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


class SqlError(QueryError):
    """A statement refused before it reaches an engine; ``where`` names what."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__("sql", f"{reason}: {where}" if where else reason)
        self.where = where


# -- what a statement may contain -----------------------------------------------------------
_STRUCTURE = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered,
    exp.Limit, exp.Offset, exp.Distinct, exp.Column, exp.Identifier, exp.Table,
    exp.TableAlias, exp.Alias, exp.Star, exp.Literal, exp.Boolean, exp.Null, exp.Paren,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod,
    exp.Neg, exp.Case, exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam,
    exp.Interval, exp.Var, exp.Bracket, exp.Window, exp.WindowSpec, exp.Tuple, exp.Filter,
    exp.DPipe,
)
# The types a CAST may name. sqlglot keeps a name it does not know (quoted, or an engine's
# own spelling) as a user-defined type whose text it renders verbatim: that text was an
# injection (issue 29), so every other type, and any raw type text, is refused.
_T = exp.DataType.Type
TYPES: dict[exp.DataType.Type, str] = {
    _T.TEXT: "varchar", _T.VARCHAR: "varchar", _T.CHAR: "varchar", _T.TINYINT: "tinyint",
    _T.SMALLINT: "smallint", _T.INT: "integer", _T.BIGINT: "bigint", _T.FLOAT: "float",
    _T.DOUBLE: "double", _T.DECIMAL: "decimal(p, s)", _T.BOOLEAN: "boolean",
    _T.DATE: "date", _T.TIMESTAMP: "timestamp", _T.DATETIME: "timestamp",
}
_VAR = re.compile(r"[A-Za-z_]{1,32}")  # a keyword such as an interval's unit
# Functions both engines have, as sqlglot knows them (it spells each for the engine).
FUNCTIONS: dict[type[exp.Expression], str] = {
    exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
    exp.Median: "median", exp.Stddev: "stddev",
    exp.Variance: "variance", exp.Quantile: "quantile", exp.CountIf: "count_if",
    exp.ArgMax: "arg_max", exp.ArgMin: "arg_min",
    exp.Coalesce: "coalesce", exp.Nullif: "nullif", exp.Greatest: "greatest",
    exp.Least: "least", exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length",
    exp.Substring: "substring", exp.Concat: "concat", exp.Trim: "trim",
    exp.StrPosition: "strpos", exp.RegexpLike: "regexp_matches", exp.StartsWith: "starts_with",
    exp.Round: "round", exp.Abs: "abs", exp.Floor: "floor", exp.Ceil: "ceil",
    exp.Sqrt: "sqrt", exp.Ln: "ln", exp.Exp: "exp", exp.Pow: "power",
    exp.DateTrunc: "date_trunc", exp.TimestampTrunc: "date_trunc",
    exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank",
    exp.Lag: "lag", exp.Lead: "lead", exp.CurrentTimestamp: "now",
}
_ALLOWED = frozenset(_STRUCTURE) | frozenset(FUNCTIONS)
# Documented spellings sqlglot keeps as unknown functions: each becomes the function it
# names (with its arguments checked like any other), or stays unknown and is refused.
_SPELLINGS: dict[str, Callable[[list[exp.Expression]], exp.Expression | None]] = {
    "regexp_matches": lambda a: exp.RegexpLike(this=a[0], expression=a[1]) if len(a) == 2
    else None,
    "now": lambda a: None if a else exp.CurrentTimestamp(),
}
_SELECT_ARGS = frozenset({"expressions", "from", "from_", "joins", "where", "group", "having",
                          "order", "limit", "offset", "distinct", "with", "with_", "kind"})
_TABLE_ARGS = frozenset({"this", "alias"})


@cache
def tables() -> dict[str, str]:
    """Exposed table name (lower case) -> the name as documented."""
    names = {n: n for n in _KINDS}
    names.update({n.lower(): n for n in catalog.all_datasets() if n != "events"})
    return names


@dataclass
class CompiledSql:
    sql: str
    params: dict[str, object]


def compile_sql(text: str, org: str, time_range: TimeRange, dialect: Dialect,
                *, max_rows: int) -> CompiledSql:
    """Check ``text`` and scope it to ``org`` and ``time_range``; at most ``max_rows``
    rows come back (the caller asks for one more to know whether it cut)."""
    if not org:
        raise SqlError("", "a statement must be scoped to an org")
    tree = _parse(text)
    _check(tree)
    params = Params(dialect)
    _rename_ctes(tree)
    refs = list(_base_tables(tree))
    if len(refs) > MAX_TABLE_REFS:
        raise SqlError("", f"at most {MAX_TABLE_REFS} table references")
    for table in refs:
        _scope_table(table, org, time_range, dialect, params)
    _portable(tree, dialect)
    outer = exp.select(exp.Star()).from_(tree.subquery("q", copy=False), copy=False)
    outer = outer.limit(lit(max_rows), copy=False)
    # The compiler-built subqueries hold no text of the statement's: the check renders
    # and parses back the statement around them (most of the parsing time otherwise).
    around = _without_views(outer)
    _check_rendered(dialect.render(around), dialect, _shape(around))
    return CompiledSql(dialect.render(outer), params.values)


_VIEW = "tq_view"  # meta mark of a compiler-built subquery


def _without_views(tree: exp.Expression) -> exp.Expression:
    """A copy of ``tree`` with each compiler-built subquery's SELECT reduced to
    ``SELECT 1``: the statement's own nodes, as they render, and nothing else."""
    copy = tree.copy()
    for select in list(copy.find_all(exp.Select)):
        if select.meta.get(_VIEW):
            select.replace(exp.select(exp.Literal.number(1)))
    return copy


def _shape(tree: exp.Expression) -> Counter[str]:
    """What a statement reads and how it nests: its table names (lower case) and its
    number of SELECTs, counted the same way before and after rendering."""
    shape: Counter[str] = Counter(t.name.lower() for t in tree.find_all(exp.Table))
    shape[" select"] = sum(1 for _ in tree.find_all(exp.Select))
    return shape


def _check_rendered(sql: str, dialect: Dialect, expected: Counter[str]) -> None:
    """The statement as rendered for the engine (around the compiler's subqueries), parsed
    back in the engine's dialect, must be one SELECT with exactly the tables and SELECTs
    of the tree it was rendered from. Text that
    a node rendered verbatim (the quoted type name of issue 29) would add a statement, a
    table or a subquery; refused here even if the allow-list had let it through."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect.sql_dialect) if s is not None]
    except Exception:
        raise SqlError("", "the statement does not render safely for the engine") from None
    if len(statements) != 1 or not isinstance(statements[0], _SET_OPS) or \
            _shape(statements[0]) != expected:
        raise SqlError("", "the statement does not render safely for the engine")


def _parse(text: str) -> exp.Expression:
    if len(text) > MAX_SQL_CHARS:
        raise SqlError("", f"a statement may have at most {MAX_SQL_CHARS} characters")
    try:
        statements = [s for s in sqlglot.parse(text) if s is not None]
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        where = f"line {first.get('line')}, column {first.get('col')}" if first else ""
        raise SqlError(where, "the statement does not parse") from None
    except Exception as e:  # sqlglot's tokenizer raises plain errors on some input
        raise SqlError("", f"the statement does not parse ({type(e).__name__})") from None
    if len(statements) != 1:
        raise SqlError("", f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _SET_OPS):
        raise SqlError(tree.key.upper(), "only SELECT statements are allowed")
    return tree


def _snippet(node: exp.Expression) -> str:
    try:
        text = node.sql()
    except Exception:
        text = node.key
    return text if len(text) <= 80 else text[:77] + "..."


def _check(tree: exp.Expression) -> None:
    for anonymous in list(tree.find_all(exp.Anonymous)):
        build = _SPELLINGS.get(anonymous.name.lower())
        known = build(list(anonymous.expressions)) if build else None
        if known is not None:
            anonymous.replace(known)
    for node in tree.walk():
        if type(node) not in _ALLOWED:
            if isinstance(node, exp.Func):
                name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
                raise SqlError(name.lower(), "function not allowed")
            raise SqlError(_snippet(node), f"{node.key.upper()} is not allowed")
        if isinstance(node, exp.Select):
            extra = {k for k, v in node.args.items() if v and k not in _SELECT_ARGS}
            if extra:
                raise SqlError(sorted(extra)[0].rstrip("_").upper(), "clause not allowed")
        elif isinstance(node, exp.Table):
            extra = {k for k, v in node.args.items() if v and k not in _TABLE_ARGS}
            if extra or not isinstance(node.this, exp.Identifier):
                raise SqlError(_snippet(node), "only the documented tables, unqualified, "
                                               "may be read")
        elif isinstance(node, exp.DataType):
            _check_type(node)
        elif isinstance(node, exp.DataTypeParam):
            if not isinstance(node.parent, exp.DataType):
                raise SqlError(_snippet(node), "not allowed")
        elif isinstance(node, exp.Var) and not _VAR.fullmatch(node.name):
            raise SqlError(_snippet(node), "not allowed")
        elif isinstance(node, exp.With) and node.args.get("recursive"):
            raise SqlError("WITH RECURSIVE", "not allowed")
        elif isinstance(node, exp.Bracket):
            target = node.this
            keys = node.expressions
            if not (isinstance(target, exp.Column) and target.name in _MAPS and len(keys) == 1
                    and isinstance(keys[0], exp.Literal) and keys[0].is_string):
                raise SqlError(_snippet(node), "[] reads one key of an attribute map: "
                                               "attrs_string['key']")
        elif isinstance(node, exp.Identifier) and node.name.lower().startswith(_CTE_PREFIX):
            raise SqlError(node.name, "names starting with __tq_ are reserved")
        elif isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
            raise SqlError(_snippet(node), "columns may be qualified by a table name only")


def _check_type(node: exp.DataType) -> None:
    """One of ``TYPES``, by sqlglot's own type (never a name kept as text); only DECIMAL
    takes parameters, two small integers."""
    allowed = ", ".join(sorted(set(TYPES.values())))
    extra = {k for k, v in node.args.items() if v and k not in ("this", "expressions",
                                                                  "nested")}
    if node.this not in TYPES or extra or node.args.get("nested"):
        raise SqlError(_snippet(node), f"type not allowed (the types are {allowed})")
    params = node.expressions
    if not params:
        return
    ok = node.this == _T.DECIMAL and len(params) <= 2 and all(
        isinstance(p, exp.DataTypeParam) and isinstance(p.this, exp.Literal)
        and p.this.is_int and 0 <= int(p.this.name) <= 38 for p in params)
    if not ok:
        raise SqlError(_snippet(node), "only decimal(p, s) takes parameters, each 0..38")


def _rename_ctes(tree: exp.Expression) -> None:
    """Give every CTE a name no real table has, and point its references at it, as the
    scopes resolve them (sqlglot's ``traverse_scope``)."""
    renames: dict[int, str] = {}
    for i, cte in enumerate(tree.find_all(exp.CTE)):
        renames[id(cte)] = f"{_CTE_PREFIX}{i}"
    if not renames:
        return
    refs: list[tuple[exp.Table, str]] = []
    for scope in traverse_scope(tree):
        for table in scope.tables:
            source = scope.cte_sources.get(table.name)
            if source is not None and not table.args.get("db"):
                cte = source.expression.parent
                if isinstance(cte, exp.CTE) and id(cte) in renames:
                    refs.append((table, renames[id(cte)]))
    for cte in tree.find_all(exp.CTE):
        alias = cte.args["alias"]
        alias.set("this", exp.to_identifier(renames[id(cte)], quoted=True))
    for table, name in refs:
        alias = table.alias or table.name
        table.set("this", exp.to_identifier(name, quoted=True))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))


def _base_tables(tree: exp.Expression) -> Iterator[exp.Table]:
    """Every table reference that is not a (renamed) CTE: each must be an exposed table."""
    exposed = tables()
    for table in list(tree.find_all(exp.Table)):
        if table.name.startswith(_CTE_PREFIX):
            continue
        if table.name.lower() not in exposed:
            known = ", ".join(sorted(exposed.values()))
            raise SqlError(table.name, f"unknown table (the tables are {known})")
        yield table


def _scope_table(table: exp.Table, org: str, time_range: TimeRange, dialect: Dialect,
                 params: Params) -> None:
    name = tables()[table.name.lower()]
    view = _view(name, org, time_range, dialect, params)
    view.meta[_VIEW] = True
    alias = table.args.get("alias") or exp.TableAlias(
        this=exp.to_identifier(table.name, quoted=table.this.quoted))
    table.replace(exp.Subquery(this=view, alias=alias))


def _view(name: str, org: str, time_range: TimeRange, dialect: Dialect,
          params: Params) -> exp.Select:
    """The org's rows of one exposed table in the time range, as the compiler scopes a
    query (tenant, time, the dataset's own predicate), values bound in ``params``."""
    kind = _KINDS.get(name, False)
    dataset = "events" if kind is not False else name
    rel, where, _ = compile_relation(Query(dataset, time_range), org, dialect, params)
    if kind is not False:  # tokens and cost counted once per LLM call, as in the catalog
        cols: list[exp.Expression] = [
            exp.alias_(once_per_call(c), c, quoted=True) if c in ONCE_PER_CALL
            else exp.column(c, quoted=True) for c in COLUMN_NAMES]
        if kind is not None:
            kind_is = exp.EQ(this=exp.column("kind", quoted=True),
                             expression=params.bind(kind, Logical.STRING))
            where = kind_is if where is None else exp.and_(where, kind_is, copy=False)
    else:
        ds = catalog.dataset(name)
        cols = [exp.alias_(exp.column(ds.time_column, quoted=True), "timestamp", quoted=True)]
        cols += [exp.alias_(f.build(dialect, params), n, quoted=True, copy=False)
                 for n, f in ds.fields.items() if not n.startswith("__") and n != "timestamp"]
    sel = exp.select(*cols).from_(rel, copy=False)
    return sel.where(where, copy=False) if where is not None else sel


def _portable(tree: exp.Expression, dialect: Dialect) -> None:
    """What the engines spell or compute differently, as the query compiler does it:
    ``attrs_string['k']`` -> the engine's map lookup (keys are the statement's own string
    literals, as the check allowed), and ``quantile(x, q)`` / ``median(x)`` -> the exact
    interpolated quantile both engines agree on."""
    for node in list(tree.find_all(exp.Bracket)):
        column = node.this.copy()
        assert COLUMNS[column.name].logical in (Logical.MAP_STRING, Logical.MAP_NUMBER,
                                                Logical.MAP_BOOL)
        node.replace(dialect.map_get(column, lit(node.expressions[0].name)))
    for node in list(tree.find_all(exp.Quantile, exp.Median)):
        q = node.args.get("quantile") if isinstance(node, exp.Quantile) else exp.Literal.number(
            0.5)
        if not (isinstance(q, exp.Literal) and q.is_number and 0 <= float(q.name) <= 1):
            raise SqlError(_snippet(node), "a quantile takes a number from 0 to 1")
        node.replace(dialect.quantile(node.this.copy(), float(q.name)))


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than ``limit`` matched; ``rows`` holds the first ``limit``
    limit: int
    stats: Stats


def run_sql(store: Store, text: str, org: str, time_range: TimeRange, *, limit: int,
            timeout: float | None = None) -> SqlResult:
    """Check, scope and run ``text`` for ``org``; the engine's own refusals (an unknown
    column, a type mismatch) come back as ``SqlError`` too, never as a crash."""
    compiled = compile_sql(text, org, time_range, store.dialect, max_rows=limit + 1)
    try:
        raw = store.execute(compiled.sql, compiled.params, timeout=timeout,
                            confined=Confined(org, _CTE_PREFIX))
    except (StatementStopped, StoreUnavailable):
        raise
    except UnsafeStatement as e:
        raise SqlError("", f"the statement is not allowed ({e})") from None
    except Exception as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        message = re.sub(rf"{_CTE_PREFIX}\d+", "<cte>", message)[:300]
        raise SqlError("", f"the engine refused the statement ({message})") from None
    rows = raw.rows[:limit]
    return SqlResult(raw.columns, rows, len(raw.rows) > limit, limit, raw.stats)


__all__ = ["FUNCTIONS", "CompiledSql", "SqlError", "SqlResult", "compile_sql", "run_sql",
           "tables"]
