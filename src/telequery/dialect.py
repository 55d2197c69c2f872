"""Every engine difference the compiler needs, as one method each.

The compiler never branches on the engine: it calls these methods and renders the
resulting sqlglot tree with ``sql_dialect``. Engine functions are built explicitly
(``exp.Anonymous``) rather than transpiled, because sqlglot passes unknown functions
through silently (see STYLE.md: fail closed). Anything a dialect cannot express raises
``NotImplementedError`` at compile time.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlglot import exp

from telequery.schema import CLICKHOUSE_TYPES, Logical


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """An engine function call, spelled exactly as given."""
    return exp.Anonymous(this=name, expressions=list(args))


def lit(value: object) -> exp.Expression:
    """A literal for values that come from the catalog or the compiler, never a request."""
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if value is None:
        return exp.null()
    return exp.Literal.string(str(value))


class Params:
    """Collects bound parameters while a query is compiled."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.values: dict[str, object] = {}

    def bind(self, value: object, logical: Logical) -> exp.Expression:
        name = f"p{len(self.values)}"
        self.values[name] = self.dialect.param_value(value, logical)
        return self.dialect.placeholder(name, logical)


class Dialect:
    """Base: the parts DuckDB and ClickHouse spell the same way."""

    name: ClassVar[str]
    sql_dialect: ClassVar[str]
    # The engine's own names (lower case, as its parser reports them) of every function a
    # statement built around user SQL may call: what the compiler's subqueries, the map
    # lookups and quantiles, and ``query.sql.FUNCTIONS`` render to. Anything else (a file
    # reader, a settings or host probe) is refused by the store before it runs.
    confined_functions: ClassVar[frozenset[str]] = frozenset()

    guard_in_lists: ClassVar[bool] = False
    """Whether an IN list reached from WHERE through AND/OR only is written
    ``COALESCE(x IN (...), FALSE)`` (same rows there). DuckDB pushes a plain IN list into
    the scan as a table filter that ran ~3x slower than the expression (DuckDB 2.0,
    dictionary-compressed strings: 84 ms vs 30 ms over 10M rows)."""

    # -- parameters ---------------------------------------------------------------------
    def placeholder(self, name: str, logical: Logical) -> exp.Expression:
        raise NotImplementedError

    def param_value(self, value: object, logical: Logical) -> object:
        return value

    # -- values and columns -------------------------------------------------------------
    def map_get(self, map_col: exp.Expression, key: exp.Expression) -> exp.Expression:
        """Value of ``key`` in a map column, NULL when the key is absent."""
        raise NotImplementedError

    def map_keys(self, map_col: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def map_values(self, map_col: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def epoch_us(self, ts: exp.Expression) -> exp.Expression:
        """Microseconds since the epoch of a timestamp, as an integer."""
        raise NotImplementedError

    def epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def epoch_ms_floor(self, ts: exp.Expression) -> exp.Expression:
        """Whole milliseconds at or before ts (a window's inclusive start)."""
        raise NotImplementedError

    def epoch_ms_ceil(self, ts: exp.Expression) -> exp.Expression:
        """Whole milliseconds at or after ts (a window's end)."""
        raise NotImplementedError

    def bucket_us(self, ts: exp.Expression, step_us: int) -> exp.Expression:
        """Start (epoch µs) of the epoch-aligned bucket of width ``step_us`` holding ts."""
        raise NotImplementedError

    def month_bucket(self, ts: exp.Expression, months: int) -> exp.Expression:
        """Calendar-month bucket (UTC) of ``months`` months holding ts, as months since
        1970-01, aligned to the epoch: ``(12*(year-1970) + month-1) // months * months``."""
        raise NotImplementedError

    def to_double(self, e: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def utc_date(self, ts: exp.Expression) -> exp.Expression:
        """The UTC calendar date of a timestamp as ``YYYY-MM-DD`` text."""
        raise NotImplementedError

    def json_array_first(self, text: exp.Expression) -> exp.Expression:
        """First element of a JSON array held as text, as text (NULL when absent)."""
        raise NotImplementedError

    # -- string predicates (case-sensitive unless stated) -------------------------------
    def contains(self, s: exp.Expression, sub: exp.Expression, match_case: bool = True
                 ) -> exp.Expression:
        raise NotImplementedError

    def ci_prefilter(self, needle: str) -> str | None:
        """An RE2 pattern that matches every text whose lower-cased form contains the
        lower-cased ``needle`` (it may match more: callers AND it with ``contains``), or None
        when the engine's own case-insensitive ``contains`` is already as cheap."""
        return None

    def ci_like(self, needle: str) -> str | None:
        """A LIKE pattern such that ``ilike(text, pattern)`` is exactly the case-insensitive
        ``contains(text, needle)`` and cheaper, or None."""
        return None

    def ilike(self, s: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def starts_with(self, s: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def ends_with(self, s: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def regex(self, s: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        """RE2 search (unanchored); case-insensitivity is a ``(?i)`` prefix in the pattern."""
        raise NotImplementedError

    def list_has_any(self, arr: exp.Expression, values: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def unnest_or_null(self, arr: exp.Expression) -> exp.Expression:
        """One row per element; a single NULL row for an empty array (keeps the row)."""
        raise NotImplementedError

    def unnest(self, arr: exp.Expression) -> exp.Expression:
        """One row per element; no row for an empty array (e.g. the keys of a map)."""
        raise NotImplementedError

    def array_to_text(self, arr: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    # -- aggregates ---------------------------------------------------------------------
    def quantile(self, e: exp.Expression, q: float) -> exp.Expression:
        """Exact quantile with linear interpolation between closest ranks."""
        raise NotImplementedError

    def uniq(self, e: exp.Expression) -> exp.Expression:
        """Exact count of distinct non-null values."""
        raise NotImplementedError

    def stddev(self, e: exp.Expression) -> exp.Expression:
        """Sample standard deviation; NULL for fewer than two values."""
        raise NotImplementedError

    def variance(self, e: exp.Expression) -> exp.Expression:
        """Sample variance; NULL for fewer than two values."""
        raise NotImplementedError

    def null_safe_eq(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        """Equality where NULL equals NULL (for joining on group keys)."""
        raise NotImplementedError

    def distinct_list(self, e: exp.Expression) -> exp.Expression:
        """Aggregate: the sorted distinct non-null values of ``e`` as a list ([] when none)."""
        raise NotImplementedError

    def arg_min(self, value: exp.Expression, key: exp.Expression) -> exp.Expression:
        """Aggregate: ``value`` at the row with the smallest ``key``; rows where either is
        NULL are skipped (NULL when none is left), so a NULL key excludes a row."""
        raise NotImplementedError

    def render(self, tree: exp.Expression) -> str:
        return tree.sql(dialect=self.sql_dialect)


class DuckDBDialect(Dialect):
    name = "duckdb"
    sql_dialect = "duckdb"
    # kept whole by tests/test_security_sql.py
    # ::test_every_table_and_function_passes_the_engine_check
    confined_functions = frozenset({
        "!~~", "!~~*", "%", "+", "-", "/", "//", "abs", "arg_max", "arg_min", "avg",
        "ceil", "count", "count_if", "count_star", "date_trunc", "dense_rank",
        "epoch_us", "exp", "floor", "greatest", "json_extract_string", "lag", "lead",
        "least", "length", "list", "list_distinct", "list_extract", "list_position",
        "list_sort", "ln", "lower", "max", "min", "nullif", "power", "quantile_cont",
        "rank", "regexp_matches", "round", "row_number", "sqrt", "starts_with",
        "stddev", "strftime", "strpos", "struct_extract", "substring", "sum", "to_days",
        "to_hours", "to_minutes", "to_months", "to_seconds", "to_weeks", "to_years",
        "trim", "trunc", "upper", "variance", "||", "~~", "~~*"
    })
    guard_in_lists = True

    def placeholder(self, name: str, logical: Logical) -> exp.Expression:
        return exp.Placeholder(this=name)

    def param_value(self, value: object, logical: Logical) -> object:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None) - (value.utcoffset() or datetime.min - datetime.min)
        return value

    # Attribute maps are stored as entry lists, STRUCT(k K[], v V[]) (see schema.py).
    def map_get(self, map_col: exp.Expression, key: exp.Expression) -> exp.Expression:
        return fn("list_extract", self.map_values(map_col.copy()),
                  fn("list_position", self.map_keys(map_col), key))

    def map_keys(self, map_col: exp.Expression) -> exp.Expression:
        return fn("struct_extract", map_col, exp.Literal.string("k"))

    def map_values(self, map_col: exp.Expression) -> exp.Expression:
        return fn("struct_extract", map_col, exp.Literal.string("v"))

    def epoch_us(self, ts: exp.Expression) -> exp.Expression:
        return fn("epoch_us", ts)

    def epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        return fn("epoch_ms", ts)

    def epoch_ms_floor(self, ts: exp.Expression) -> exp.Expression:
        return exp.paren(exp.IntDiv(this=self.epoch_us(ts), expression=lit(1000)))

    def epoch_ms_ceil(self, ts: exp.Expression) -> exp.Expression:
        return exp.paren(exp.IntDiv(
            this=exp.paren(exp.Add(this=self.epoch_us(ts), expression=lit(999))),
            expression=lit(1000)))

    def bucket_us(self, ts: exp.Expression, step_us: int) -> exp.Expression:
        step = exp.Literal.number(step_us)
        return exp.Mul(this=exp.paren(exp.IntDiv(this=self.epoch_us(ts), expression=step)),
                       expression=step)

    def month_bucket(self, ts: exp.Expression, months: int) -> exp.Expression:
        n = exp.Literal.number(months)
        index = exp.paren(exp.Add(this=exp.Mul(this=exp.paren(exp.Sub(
            this=fn("year", ts), expression=lit(1970))), expression=lit(12)),
            expression=exp.Sub(this=fn("month", ts), expression=lit(1))))
        return exp.Mul(this=exp.paren(exp.IntDiv(this=index, expression=n)), expression=n)

    def to_double(self, e: exp.Expression) -> exp.Expression:
        return exp.cast(e, "DOUBLE")

    def utc_date(self, ts: exp.Expression) -> exp.Expression:
        return fn("strftime", ts, lit("%Y-%m-%d"))  # timestamps are stored as UTC

    def json_array_first(self, text: exp.Expression) -> exp.Expression:
        return fn("json_extract_string", text, lit("$[0]"))

    def contains(self, s: exp.Expression, sub: exp.Expression, match_case: bool = True
                 ) -> exp.Expression:
        if match_case:
            return fn("contains", s, sub)
        return fn("contains", fn("lower", s), fn("lower", sub))

    def ci_prefilter(self, needle: str) -> str | None:
        """Why: ``lower()`` copies every haystack (the joined attribute values of a day
        cost ~0.2 s of CPU at 10M events); RE2's ``(?i)`` scans in place, 2-3x cheaper.
        Only for ASCII needles, where it is a superset: outside ASCII, DuckDB's ``lower``
        maps only U+0130 (to i) and U+212A (Kelvin, to k) into ASCII (checked over every
        code point on DuckDB 2.0); RE2 folds k with U+212A but not i with
        U+0130, so ``i`` also accepts U+0130. RE2's extra folds (s with U+017F) are removed
        by the ``contains`` the caller keeps."""
        if not needle.isascii():
            return None
        parts = []
        for ch in needle.lower():
            if ch == "i":
                parts.append("(?:i|\\x{130})")
            elif ch.isalnum():
                parts.append(ch)
            else:
                parts.append(f"\\x{{{ord(ch):02x}}}")
        return "(?i)" + "".join(parts)

    def ci_like(self, needle: str) -> str | None:
        """Why: DuckDB's ILIKE compares in place on columns whose statistics show only
        ASCII, where ``lower()`` copies every value; elsewhere it lower-cases both sides,
        as ``contains(lower(), lower())`` does. ASCII needles only (a needle holding
        U+0130 or U+212A lower-cases to ASCII, which the in-place compare would not see),
        and none with LIKE wildcards (or a backslash, to stay clear of escapes)."""
        if not needle.isascii() or any(c in needle for c in "%_\\"):
            return None
        return f"%{needle}%"

    def ilike(self, s: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return exp.ILike(this=s, expression=pattern)

    def starts_with(self, s: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return fn("starts_with", s, prefix)

    def ends_with(self, s: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        return fn("suffix", s, suffix)

    def regex(self, s: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return fn("regexp_matches", s, pattern)

    def list_has_any(self, arr: exp.Expression, values: exp.Expression) -> exp.Expression:
        return fn("list_has_any", arr, values)

    def unnest_or_null(self, arr: exp.Expression) -> exp.Expression:
        empty = exp.or_(exp.Is(this=arr, expression=exp.null()),
                        exp.EQ(this=fn("len", arr), expression=lit(0)))
        null_list = exp.cast(exp.Array(expressions=[exp.null()]), "VARCHAR[]")
        return fn("unnest", exp.If(this=empty, true=null_list, false=arr))

    def unnest(self, arr: exp.Expression) -> exp.Expression:
        return fn("unnest", arr)

    def array_to_text(self, arr: exp.Expression) -> exp.Expression:
        return fn("array_to_string", arr, lit("\n"))

    def quantile(self, e: exp.Expression, q: float) -> exp.Expression:
        return fn("quantile_cont", e, lit(q))

    def uniq(self, e: exp.Expression) -> exp.Expression:
        return exp.Count(this=exp.Distinct(expressions=[e]))

    def stddev(self, e: exp.Expression) -> exp.Expression:
        return fn("stddev_samp", e)

    def variance(self, e: exp.Expression) -> exp.Expression:
        return fn("var_samp", e)

    def null_safe_eq(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        return exp.NullSafeEQ(this=a, expression=b)

    def distinct_list(self, e: exp.Expression) -> exp.Expression:
        return fn("list_sort", fn("list_distinct", fn("list", e)))

    def arg_min(self, value: exp.Expression, key: exp.Expression) -> exp.Expression:
        return fn("arg_min", value, key)




class ClickHouseDialect(Dialect):
    name = "clickhouse"
    sql_dialect = "clickhouse"
    # kept whole by tests/test_security_sql.py
    # ::test_every_table_and_function_passes_the_engine_check
    confined_functions = frozenset({
        "_cast", "abs", "and", "argmax", "argmin", "arrayelement", "arraysort", "avg",
        "casewithexpression", "cast", "ceil", "char_length", "coalesce", "concat",
        "count", "countdistinct", "countif", "current_timestamp", "datetrunc",
        "dense_rank", "divide", "equals", "exp", "floor", "formatdatetime", "greater",
        "greaterorequals", "greatest", "groupuniqarray", "if", "ilike", "in", "intdiv",
        "isnotnull", "isnull", "jsonextractstring", "lag", "lead", "least", "less",
        "lessorequals", "like", "ln", "lower", "mapcontains", "match", "max", "min",
        "minus", "modulo", "multiif", "negate", "not", "notequals", "notilike", "notin",
        "notlike", "nullif", "or", "plus", "position", "power",
        "quantileexactinclusive", "rank", "round", "row_number", "sqrt", "startswith",
        "stddevsamp", "substring", "sum", "tofloat64", "tointervalday",
        "tointervalhour", "tointervalminute", "tointervalmonth", "tointervalsecond",
        "tointervalweek", "tointervalyear", "tounixtimestamp64micro", "trimboth",
        "tuple", "uniqexact", "upper", "varsamp"
    })

    def placeholder(self, name: str, logical: Logical) -> exp.Expression:
        # ClickHouse binds query parameters server-side as {name:Type}.
        return exp.Placeholder(this=name, kind=exp.DataType.build(CLICKHOUSE_TYPES[logical],
                                                                   dialect="clickhouse"))

    def param_value(self, value: object, logical: Logical) -> object:
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.replace(tzinfo=None) - (value.utcoffset()
                                                      or datetime.min - datetime.min)
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def map_get(self, map_col: exp.Expression, key: exp.Expression) -> exp.Expression:
        # m[k] yields the type's default for an absent key; NULL keeps absence visible.
        return exp.If(this=fn("mapContains", map_col, key),
                      true=exp.Bracket(this=map_col, expressions=[key]), false=exp.null())

    def map_keys(self, map_col: exp.Expression) -> exp.Expression:
        return fn("mapKeys", map_col)

    def map_values(self, map_col: exp.Expression) -> exp.Expression:
        return fn("mapValues", map_col)

    def epoch_us(self, ts: exp.Expression) -> exp.Expression:
        return fn("toUnixTimestamp64Micro", ts)

    def epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        # DuckDB's epoch_ms rounds half away from zero; toUnixTimestamp64Milli truncates.
        us = self.epoch_us(ts)
        return fn("intDiv", exp.Add(this=us, expression=exp.Mul(
            this=lit(500), expression=fn("sign", us))), lit(1000))

    def epoch_ms_floor(self, ts: exp.Expression) -> exp.Expression:
        return fn("intDiv", self.epoch_us(ts), lit(1000))

    def epoch_ms_ceil(self, ts: exp.Expression) -> exp.Expression:
        return fn("intDiv", exp.Add(this=self.epoch_us(ts), expression=lit(999)), lit(1000))

    def bucket_us(self, ts: exp.Expression, step_us: int) -> exp.Expression:
        step = exp.Literal.number(step_us)
        return exp.Mul(this=fn("intDiv", self.epoch_us(ts), step), expression=step)

    def month_bucket(self, ts: exp.Expression, months: int) -> exp.Expression:
        n = exp.Literal.number(months)
        index = fn("toRelativeMonthNum", ts)  # 12*year + month, in the column's zone (UTC)
        since_epoch = exp.Sub(this=index, expression=lit(1970 * 12 + 1))
        return exp.Mul(this=fn("intDiv", since_epoch, n), expression=n)

    def to_double(self, e: exp.Expression) -> exp.Expression:
        return fn("toFloat64", e)

    def utc_date(self, ts: exp.Expression) -> exp.Expression:
        return fn("formatDateTime", ts, lit("%Y-%m-%d"), lit("UTC"))

    def json_array_first(self, text: exp.Expression) -> exp.Expression:
        return fn("JSONExtractString", text, lit(1))

    def contains(self, s: exp.Expression, sub: exp.Expression, match_case: bool = True
                 ) -> exp.Expression:
        func = "position" if match_case else "positionCaseInsensitiveUTF8"
        return exp.GT(this=fn(func, s, sub), expression=lit(0))

    def starts_with(self, s: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return fn("startsWith", s, prefix)

    def ends_with(self, s: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        return fn("endsWith", s, suffix)

    def regex(self, s: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return fn("match", s, pattern)

    def list_has_any(self, arr: exp.Expression, values: exp.Expression) -> exp.Expression:
        return fn("hasAny", arr, values)

    def unnest_or_null(self, arr: exp.Expression) -> exp.Expression:
        nullable = fn("arrayMap", exp.Lambda(this=fn("toNullable", exp.column("x")),
                                             expressions=[exp.to_identifier("x")]), arr)
        return fn("arrayJoin", exp.If(this=fn("empty", arr),
                                      true=exp.cast(exp.Array(expressions=[exp.null()]),
                                                    "Array(Nullable(String))"),
                                      false=nullable))

    def unnest(self, arr: exp.Expression) -> exp.Expression:
        return fn("arrayJoin", arr)

    def array_to_text(self, arr: exp.Expression) -> exp.Expression:
        return fn("arrayStringConcat", arr, lit("\n"))

    def quantile(self, e: exp.Expression, q: float) -> exp.Expression:
        # quantileExactInclusive interpolates like DuckDB's quantile_cont; plain quantile
        # samples 8,192 values and is not deterministic.
        return exp.Anonymous(this=f"quantileExactInclusive({q!r})", expressions=[e])

    def uniq(self, e: exp.Expression) -> exp.Expression:
        return fn("uniqExact", e)

    def _at_least_two(self, e: exp.Expression, agg: exp.Expression) -> exp.Expression:
        return exp.If(this=exp.GT(this=exp.Count(this=e), expression=lit(1)), true=agg,
                      false=exp.null())

    def stddev(self, e: exp.Expression) -> exp.Expression:
        return self._at_least_two(e, fn("stddevSamp", e))

    def variance(self, e: exp.Expression) -> exp.Expression:
        return self._at_least_two(e, fn("varSamp", e))

    def null_safe_eq(self, a: exp.Expression, b: exp.Expression) -> exp.Expression:
        return fn("isNotDistinctFrom", a, b)

    def distinct_list(self, e: exp.Expression) -> exp.Expression:
        return fn("arraySort", fn("groupUniqArray", e))

    def arg_min(self, value: exp.Expression, key: exp.Expression) -> exp.Expression:
        # Nullable arguments get the -Null combinator: rows with a NULL argument are skipped.
        return fn("argMin", value, key)


DIALECTS: dict[str, type[Dialect]] = {"duckdb": DuckDBDialect, "clickhouse": ClickHouseDialect}
