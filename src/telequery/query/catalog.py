"""Datasets as declarative data: fields, their expressions, types and allowed operators.

A dataset is a relation over ``events`` (a predicate such as ``kind = 'span' AND
operation = 'chat'``, or a derived relation such as one row per session) plus its fields.
Field expressions are built per dialect (``build(dialect, params)``), because map access
and the like differ between engines; attribute keys from a request are bound as
parameters, never spliced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from telequery.dialect import Dialect, Params, lit
from telequery.query.errors import UnknownDataset, UnknownField
from telequery.query.ir import Measure, Op, ValueType
from telequery.schema import COLUMNS, Logical

Builder = Callable[[Dialect, Params], exp.Expression]

ALL_OPS = frozenset(Op) - {Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE}
STRING_FIELD_OPS = frozenset({
    Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.INCLUDES, Op.NOT_INCLUDES, Op.STARTS_WITH,
    Op.NOT_STARTS_WITH, Op.ENDS_WITH, Op.NOT_ENDS_WITH, Op.REGEX, Op.EXISTS, Op.IS_NULL,
    Op.GT, Op.GTE, Op.LT, Op.LTE,
})
NUMBER_FIELD_OPS = frozenset({
    Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN, Op.EXISTS,
    Op.IS_NULL,
})
BOOL_FIELD_OPS = frozenset({Op.EQ, Op.NEQ, Op.EXISTS, Op.IS_NULL})
ARRAY_FIELD_OPS = frozenset({Op.ARRAY_HAS_ANY, Op.ARRAY_HAS_NONE, Op.EXISTS, Op.IS_NULL})
DEFAULT_OPS: dict[ValueType, frozenset[Op]] = {
    ValueType.STRING: STRING_FIELD_OPS,
    ValueType.NUMBER: NUMBER_FIELD_OPS,
    ValueType.BOOLEAN: BOOL_FIELD_OPS,
    ValueType.ARRAY: ARRAY_FIELD_OPS,
}
LOGICAL_OF: dict[ValueType, Logical] = {
    ValueType.STRING: Logical.STRING,
    ValueType.NUMBER: Logical.FLOAT,
    ValueType.BOOLEAN: Logical.BOOL,
    ValueType.ARRAY: Logical.STRING,
}


@dataclass(frozen=True)
class Field:
    """A name a query may use, what it means in SQL, and what may be done with it."""

    name: str
    type: ValueType
    build: Builder
    ops: frozenset[Op] = frozenset()
    description: str = ""
    groupable: bool = True

    @property
    def allowed_ops(self) -> frozenset[Op]:
        return self.ops or DEFAULT_OPS[self.type]

    @property
    def logical(self) -> Logical:
        return LOGICAL_OF[self.type]


def col(name: str) -> Builder:
    """A physical column of the dataset's relation."""
    return lambda d, p: exp.column(name, quoted=True)


def attr(map_column: str, key: str) -> Builder:
    """One key of an attribute map; the key is bound, since it may come from a request."""
    return lambda d, p: d.map_get(exp.column(map_column, quoted=True),
                                  p.bind(key, Logical.STRING))


def catalog_attr(map_column: str, key: str) -> Builder:
    """One key of an attribute map, for keys named by the catalog itself (a literal)."""
    return lambda d, p: d.map_get(exp.column(map_column, quoted=True), lit(key))


def column_field(name: str, column: str, description: str = "", ops: frozenset[Op] = frozenset()
                 ) -> Field:
    """A field over a physical ``events`` column, typed from the schema."""
    logical = COLUMNS[column].logical
    vtype = {
        Logical.STRING: ValueType.STRING, Logical.INT: ValueType.NUMBER,
        Logical.FLOAT: ValueType.NUMBER, Logical.BOOL: ValueType.BOOLEAN,
        Logical.LIST_STRING: ValueType.ARRAY,
    }.get(logical)
    if vtype is None:  # timestamps are exposed as epoch milliseconds
        return Field(name, ValueType.NUMBER,
                     lambda d, p: d.epoch_ms(exp.column(column, quoted=True)), ops,
                     description or COLUMNS[column].meaning)
    return Field(name, vtype, col(column), ops, description or COLUMNS[column].meaning)


Resolver = Callable[[str, ValueType | None], Field | None]
Derive = Callable[[Dialect, Params, exp.Expression], exp.Select]


@dataclass(frozen=True)
class Dataset:
    """A queryable relation.

    Attributes:
        predicate: rows of ``events`` that belong to the dataset (None = all).
        derive: builds a derived relation (e.g. one row per session) from the events WHERE
            clause; its columns are what the fields refer to.
        time_column: column holding the row's time (bucketing and the time predicate).
        weight: column that weighs count/sum/avg (``sample_interval``), or None.
        resolver: resolves names not in ``fields`` (attribute keys), or None to reject them.
        needle_columns: text columns the needle searches (plus map values of
            ``needle_maps``).
    """

    name: str
    fields: Mapping[str, Field]
    predicate: Builder | None = None
    derive: Derive | None = None
    time_column: str = "timestamp"
    weight: str | None = "sample_interval"
    measures: Mapping[str, Measure] = field(default_factory=dict)
    resolver: Resolver | None = None
    needle_columns: tuple[str, ...] = ()
    needle_maps: tuple[str, ...] = ()
    description: str = ""

    def field(self, name: str, type: ValueType | None = None) -> Field:
        """The field called ``name``; attribute keys through the resolver."""
        f = self.fields.get(name)
        if f is not None:
            return f
        if self.resolver is not None:
            resolved = self.resolver(name, type)
            if resolved is not None:
                return resolved
        raise UnknownField(name, self.name)


def dataset(name: str) -> Dataset:
    """Look up a dataset by name in ``query.datasets.DATASETS``."""
    from telequery.query.datasets import DATASETS

    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(name) from None


def all_datasets() -> dict[str, Dataset]:
    from telequery.query.datasets import DATASETS

    return dict(DATASETS)
