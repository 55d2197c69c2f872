"""The ``events`` table, written down once as data.

Both engines' DDL and the Arrow schema that ingest builds are generated from
``EVENTS``; the catalog's field types come from it too. A column's ``logical`` type is
engine-neutral; each store maps it to its own type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa


class Logical(StrEnum):
    """Engine-neutral column types."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TIMESTAMP = "timestamp"  # UTC, microsecond precision
    MAP_STRING = "map_string"
    MAP_NUMBER = "map_number"
    MAP_BOOL = "map_bool"
    LIST_STRING = "list_string"
    LIST_FLOAT = "list_float"  # only for bound parameters (IN lists of numbers)


@dataclass(frozen=True)
class Column:
    """One column of ``events``.

    ``low_cardinality`` and ``nullable`` are hints the ClickHouse DDL uses; DuckDB columns
    are always nullable.
    """

    name: str
    logical: Logical
    meaning: str
    nullable: bool = True
    low_cardinality: bool = False


S, I, F, B, T = Logical.STRING, Logical.INT, Logical.FLOAT, Logical.BOOL, Logical.TIMESTAMP  # noqa: E741

EVENTS: tuple[Column, ...] = (
    # identity and time
    Column("org_id", S, "tenant the row belongs to; every query is scoped by it", False, True),
    Column("dataset", S, "dataset the event was sent to (resource telequery.dataset)", False, True),
    Column("kind", S, "log | span", False, True),
    Column("timestamp", T, "event time (span start for spans), UTC", False),
    Column("id", S, "unique id, sorts with timestamp; the paging cursor", False),
    Column("sample_interval", F, "1 = unsampled; count() sums it", False),
    # trace
    Column("trace_id", S, "W3C trace id, 32 hex"),
    Column("span_id", S, "span id, 16 hex"),
    Column("parent_span_id", S, "parent span id; null for a root span"),
    Column("span_name", S, "span name"),
    Column("span_kind", S, "internal | server | client | producer | consumer", True, True),
    Column("end_time", T, "span end, UTC"),
    Column("duration_ms", F, "span duration in milliseconds"),
    Column("status", S, "ok | error | unset", True, True),
    # logs and workers
    Column("service", S, "service.name of the resource", True, True),
    Column("level", S, "log level: debug | info | warn | error | fatal", True, True),
    Column("message", S, "log body or span name"),
    Column("error", S, "error text: exception.message or error status message"),
    Column("request_id", S, "invocation id (faas.invocation_id)"),
    Column("url", S, "url.full"),
    Column("status_code", I, "HTTP response status code"),
    Column("trigger", S, "fetch | cron | queue | ... (from faas.trigger)", True, True),
    Column("outcome", S, "worker outcome: ok | exception | exceededCpu | canceled", True, True),
    Column("origin", S, "where the invocation ran (cloudflare.colo)", True, True),
    Column("region", S, "cloud.region of the resource", True, True),
    Column("cold_start", B, "faas.coldstart"),
    # GenAI
    Column("operation", S, "gen_ai.operation.name: invoke_agent | chat | execute_tool", True, True),
    Column("agent_name", S, "gen_ai.agent.name", True, True),
    Column("agent_id", S, "gen_ai.agent.id"),
    Column("conversation_id", S, "gen_ai.conversation.id (the session)"),
    Column("model", S, "gen_ai.response.model, else gen_ai.request.model", True, True),
    Column("provider", S, "gen_ai.provider.name (or gen_ai.system)", True, True),
    Column("input_tokens", I, "gen_ai.usage.input_tokens"),
    Column("output_tokens", I, "gen_ai.usage.output_tokens"),
    Column("cost", F, "gen_ai.usage.cost, USD"),
    Column("tool_name", S, "gen_ai.tool.name", True, True),
    Column("user_id", S, "user.id"),
    Column("teams", Logical.LIST_STRING, "telequery.team: the caller's teams (array)"),
    # patterns, mined at ingest
    Column("message_template", S, "message with variable parts replaced by <*>"),
    Column("error_template", S, "error with variable parts replaced by <*>"),
    Column("fingerprint", S, "hash of message_template"),
    # everything else, typed
    Column("attrs_string", Logical.MAP_STRING, "string attributes of the span/log"),
    Column("attrs_number", Logical.MAP_NUMBER, "numeric attributes of the span/log"),
    Column("attrs_bool", Logical.MAP_BOOL, "boolean attributes of the span/log"),
    Column("resource", Logical.MAP_STRING, "resource attributes, as strings"),
    # prompt and completion content, apart from the scalar columns (ingest.content): a
    # query reads it only when it asks for it
    Column("content", Logical.MAP_STRING, "message content: prompts, completions, tool "
           "arguments and results, keyed by the attribute or event they came from"),
)

COLUMNS: dict[str, Column] = {c.name: c for c in EVENTS}


def missing_columns(existing: set[str]) -> list[Column]:
    """The columns of ``EVENTS`` a table created by an older version lacks (each store
    adds them when it opens the table)."""
    return [c for c in EVENTS if c.name not in existing]

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENTS)

# Sort order of stored rows: tenant, dataset, then time, so both engines prune on all three.
SORT_KEY: tuple[str, ...] = ("org_id", "dataset", "timestamp")

_ARROW: dict[Logical, pa.DataType] = {
    Logical.STRING: pa.string(),
    Logical.INT: pa.int64(),
    Logical.FLOAT: pa.float64(),
    Logical.BOOL: pa.bool_(),
    Logical.TIMESTAMP: pa.timestamp("us"),
    Logical.MAP_STRING: pa.map_(pa.string(), pa.string()),
    Logical.MAP_NUMBER: pa.map_(pa.string(), pa.float64()),
    Logical.MAP_BOOL: pa.map_(pa.string(), pa.bool_()),
    Logical.LIST_STRING: pa.list_(pa.string()),
}


def arrow_schema() -> pa.Schema:
    """The Arrow schema of an ingest batch (same column order as the table)."""
    return pa.schema([pa.field(c.name, _ARROW[c.logical], c.nullable) for c in EVENTS])


_SCHEMA = arrow_schema()


def conform(batch: pa.Table) -> pa.Table:
    """``batch`` with exactly the events schema: its columns in table order, cast to their
    types (raises when a column is missing or cannot be cast)."""
    if batch.schema.equals(_SCHEMA):
        return batch
    conformed = batch.select(_SCHEMA.names).cast(_SCHEMA)
    return conformed.replace_schema_metadata(batch.schema.metadata) if \
        batch.schema.metadata else conformed


# Rows that arrived in a telequery's export (``destinations.egress.EXPORTED_HEADER``): the
# ingest marks the batch, the writer keeps the mark, the exporter never forwards it again.
_EXPORTED_KEY = b"telequery.exported"


def mark_exported(batch: pa.Table) -> pa.Table:
    return batch.replace_schema_metadata({**(batch.schema.metadata or {}),
                                          _EXPORTED_KEY: b"1"})


def is_exported(batch: pa.Table) -> bool:
    return (batch.schema.metadata or {}).get(_EXPORTED_KEY) == b"1"


# DuckDB keeps an attribute map as its entry lists, STRUCT(k VARCHAR[], v T[]), not as a
# MAP: building a MAP checks every row's keys (~0.3 us per entry, ~60% of the append on
# GenAI spans), while reading entry lists with list_position is as fast or faster
# (docs/ingest.md has the numbers). The store converts Arrow maps on the way in and hands
# maps back as dicts; the DuckDB dialect reads them.
_DUCKDB_ENTRY_LISTS: dict[Logical, str] = {
    Logical.MAP_STRING: "STRUCT(k VARCHAR[], v VARCHAR[])",
    Logical.MAP_NUMBER: "STRUCT(k VARCHAR[], v DOUBLE[])",
    Logical.MAP_BOOL: "STRUCT(k VARCHAR[], v BOOLEAN[])",
}
# Engine type names: the one place both the DDL and the dialects' typed parameters read.
DUCKDB_TYPES: dict[Logical, str] = {
    Logical.STRING: "VARCHAR",
    Logical.INT: "BIGINT",
    Logical.FLOAT: "DOUBLE",
    Logical.BOOL: "BOOLEAN",
    Logical.TIMESTAMP: "TIMESTAMP",
    **_DUCKDB_ENTRY_LISTS,
    Logical.LIST_STRING: "VARCHAR[]",
    Logical.LIST_FLOAT: "DOUBLE[]",
}
MAP_LOGICALS = frozenset(_DUCKDB_ENTRY_LISTS)


def duckdb_type(c: Column) -> str:
    """DuckDB type of a column."""
    return DUCKDB_TYPES[c.logical]


def duckdb_ddl(table: str = "events") -> str:
    """CREATE TABLE for DuckDB."""
    cols = ",\n  ".join(
        f'"{c.name}" {duckdb_type(c)}{"" if c.nullable else " NOT NULL"}' for c in EVENTS
    )
    return f'CREATE TABLE IF NOT EXISTS "{table}" (\n  {cols}\n)'


CLICKHOUSE_TYPES: dict[Logical, str] = {
    Logical.STRING: "String",
    Logical.INT: "Int64",
    Logical.FLOAT: "Float64",
    Logical.BOOL: "Bool",
    Logical.TIMESTAMP: "DateTime64(6, 'UTC')",
    Logical.MAP_STRING: "Map(LowCardinality(String), String)",
    Logical.MAP_NUMBER: "Map(LowCardinality(String), Float64)",
    Logical.MAP_BOOL: "Map(LowCardinality(String), Bool)",
    Logical.LIST_STRING: "Array(String)",
    Logical.LIST_FLOAT: "Array(Float64)",
}

# Codecs that pay on telemetry: timestamps are near-monotonic within a part.
_CLICKHOUSE_CODECS: dict[str, str] = {
    "timestamp": "CODEC(DoubleDelta, ZSTD(1))",
    "end_time": "CODEC(DoubleDelta, ZSTD(1))",
    "duration_ms": "CODEC(Gorilla, ZSTD(1))",
    "message": "CODEC(ZSTD(3))",
    "attrs_string": "CODEC(ZSTD(3))",
    "resource": "CODEC(ZSTD(3))",
}


def clickhouse_column_type(c: Column) -> str:
    """ClickHouse type of a column: LowCardinality and Nullable where they pay."""
    t = CLICKHOUSE_TYPES[c.logical]
    if c.logical in (Logical.MAP_STRING, Logical.MAP_NUMBER, Logical.MAP_BOOL,
                     Logical.LIST_STRING):
        return t
    if c.nullable:
        t = f"Nullable({t})"
    if c.low_cardinality and c.logical is Logical.STRING:
        t = f"LowCardinality({t})"
    return t


def clickhouse_columns() -> list[str]:
    """Column definitions for ClickHouse CREATE TABLE."""
    out = []
    for c in EVENTS:
        codec = _CLICKHOUSE_CODECS.get(c.name, "")
        out.append(f"`{c.name}` {clickhouse_column_type(c)} {codec}".rstrip())
    return out
