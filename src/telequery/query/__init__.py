"""The query layer's public surface: the IR, running it, the catalog, the errors, limits.

API adapters and the CLI import from here only (``_compile``, ``_predicates`` and
``_measures`` are private; SQL never leaves this package but through a store). The
dataset-specific constants an adapter needs (a dataset's field names) come from
``telequery.query.datasets``, the catalog's one mapping.
"""

from __future__ import annotations

from telequery.query import limits
from telequery.query.bind import Problem, Problems, bind
from telequery.query.catalog import Dataset, Field, all_datasets, dataset
from telequery.query.engine import DEFAULT_TIMEOUT, Result, run, run_on_batch, zero_fill
from telequery.query.errors import (
    InvalidValue,
    LimitExceeded,
    OperatorNotAllowed,
    QueryError,
    QueryStopped,
    QueryTimeout,
    UnknownDataset,
    UnknownField,
)
from telequery.query.ir import (
    LIST_OPS,
    NEGATIVE_OPS,
    STRING_OPS,
    UNARY_OPS,
    ZERO_WHEN_EMPTY,
    Agg,
    Bucketing,
    Condition,
    Dimension,
    Filter,
    FilterGroup,
    Having,
    Measure,
    Needle,
    Op,
    OrderBy,
    Query,
    TimeRange,
    ValueType,
    conditions,
    filter_depth,
    instant_ms,
    to_us,
)
from telequery.query.keys import Key, discover_keys
from telequery.query.parse import parse_time, query_from_dict
from telequery.query.sql import SqlError, SqlResult, run_sql
from telequery.query.values import as_text, coerce

__all__ = [
    "DEFAULT_TIMEOUT",
    "LIST_OPS",
    "NEGATIVE_OPS",
    "STRING_OPS",
    "UNARY_OPS",
    "ZERO_WHEN_EMPTY",
    "Agg",
    "Bucketing",
    "Condition",
    "Dataset",
    "Dimension",
    "Field",
    "Filter",
    "FilterGroup",
    "Having",
    "InvalidValue",
    "Key",
    "LimitExceeded",
    "Measure",
    "Needle",
    "Op",
    "OperatorNotAllowed",
    "OrderBy",
    "Problem",
    "Problems",
    "Query",
    "QueryError",
    "QueryStopped",
    "QueryTimeout",
    "Result",
    "SqlError",
    "SqlResult",
    "TimeRange",
    "UnknownDataset",
    "UnknownField",
    "ValueType",
    "all_datasets",
    "as_text",
    "bind",
    "coerce",
    "conditions",
    "dataset",
    "discover_keys",
    "filter_depth",
    "instant_ms",
    "limits",
    "parse_time",
    "query_from_dict",
    "run",
    "run_on_batch",
    "run_sql",
    "to_us",
    "zero_fill",
]
