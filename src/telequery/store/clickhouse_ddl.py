"""ClickHouse DDL for ``events``, generated from ``telequery.schema``, and its migrations.

Layout (why each part is there):
- ``ORDER BY (org_id, dataset, toStartOfHour(timestamp), kind, timestamp)``: every query
  carries an org and a time range (the compiler adds them), so the primary index prunes
  granules by tenant, dataset and hour before reading a column.
- ``PARTITION BY toDate(timestamp)``: daily parts, so retention drops whole partitions.
- ``TTL``: rows older than ``retention_days`` are deleted by merges (0 = keep forever).
- Skip indexes: bloom filters on ids serve exact lookups (trace, request), an n-gram
  bloom filter on attribute values and key/set/minmax indexes skip granules for filters.
- On a cluster: every statement ``ON CLUSTER``, a ``ReplicatedMergeTree`` local table per
  shard and a ``Distributed`` table named ``events`` sharded by ``cityHash64(trace_id)``,
  so every span of one trace lives on one shard (trace views and per-trace rollups stay
  local). Logs without a trace shard by their id.

Schema versions are rows of ``telequery_schema``; ``migrations()`` lists them in order and
``schema.missing_columns`` names the columns ``schema.EVENTS`` gained since the table was
created; the migration adds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from telequery.schema import Column, clickhouse_column_type, clickhouse_columns

VERSION_TABLE = "telequery_schema"
SORT_KEY = "(org_id, dataset, toStartOfHour(timestamp), kind, timestamp)"

# name -> (expression, index type). ngrambf_v1/tokenbf_v1 refuse Nullable(String) columns
# (message and error are nullable: absent is not ''), so the text indexes cover the
# attribute map values, which the needle also searches; ids get bloom filters.
SKIP_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("idx_attr_values", "mapValues(attrs_string)", "ngrambf_v1(3, 65536, 2, 0)"),
    ("idx_trace_id", "trace_id", "bloom_filter(0.001)"),
    ("idx_request_id", "request_id", "bloom_filter(0.001)"),
    ("idx_attr_keys", "mapKeys(attrs_string)", "bloom_filter(0.01)"),
    ("idx_duration", "duration_ms", "minmax"),
    ("idx_status_code", "status_code", "set(64)"),
)


@dataclass(frozen=True)
class Layout:
    """Where and how ``events`` lives.

    Attributes:
        database: database holding the tables.
        cluster: cluster name for ``ON CLUSTER`` DDL (None = one node).
        retention_days: TTL in days; 0 keeps rows forever.
        fsync: fsync parts and their directory on insert (acknowledge = on disk).
    """

    database: str = "default"
    cluster: str | None = None
    retention_days: int = 0
    fsync: bool = True

    @property
    def local_table(self) -> str:
        """The MergeTree table: ``events`` on one node, ``events_local`` on a cluster."""
        return "events_local" if self.cluster else "events"

    def on_cluster(self) -> str:
        return f" ON CLUSTER {quote(self.cluster)}" if self.cluster else ""

    def qualified(self, table: str) -> str:
        return f"{quote(self.database)}.{quote(table)}"


def quote(identifier: str) -> str:
    """Backtick-quote an identifier from configuration (never from a request)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _engine(layout: Layout) -> str:
    if layout.cluster:
        return ("ReplicatedMergeTree('/clickhouse/tables/{shard}/" + layout.database +
                "/events_local', '{replica}')")
    return "MergeTree"


def _settings(layout: Layout) -> str:
    parts = ["index_granularity = 8192"]
    if layout.fsync:
        # The part's files and its directory are fsynced before the INSERT returns.
        parts += ["fsync_after_insert = 1", "fsync_part_directory = 1"]
    return ", ".join(parts)


def events_ddl(layout: Layout) -> list[str]:
    """CREATE statements for ``events`` (and the Distributed table on a cluster)."""
    cols = clickhouse_columns()
    cols += [f"INDEX {name} {expr} TYPE {kind} GRANULARITY 1"
             for name, expr, kind in SKIP_INDEXES]
    ttl = ""
    if layout.retention_days > 0:
        ttl = f"\nTTL toDateTime(timestamp) + INTERVAL {int(layout.retention_days)} DAY DELETE"
    body = ",\n  ".join(cols)
    out = [
        f"CREATE TABLE IF NOT EXISTS {layout.qualified(layout.local_table)}"
        f"{layout.on_cluster()} (\n  {body}\n)\nENGINE = {_engine(layout)}\n"
        f"PARTITION BY toDate(timestamp)\nORDER BY {SORT_KEY}{ttl}\n"
        f"SETTINGS {_settings(layout)}"
    ]
    if layout.cluster:
        out.append(
            f"CREATE TABLE IF NOT EXISTS {layout.qualified('events')}{layout.on_cluster()} "
            f"AS {layout.qualified('events_local')}\n"
            f"ENGINE = Distributed({quote(layout.cluster)}, {quote(layout.database)}, "
            f"events_local, cityHash64(ifNull(trace_id, id)))")
    return out


def version_ddl(layout: Layout) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {layout.qualified(VERSION_TABLE)}"
            f"{layout.on_cluster()} (version UInt32, description String, "
            f"applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            f"ENGINE = MergeTree ORDER BY version")


def ttl_ddl(layout: Layout) -> str:
    """Set (or remove) the retention TTL of an existing table, applied on each start."""
    target = f"ALTER TABLE {layout.qualified(layout.local_table)}{layout.on_cluster()} "
    if layout.retention_days > 0:
        return (target + f"MODIFY TTL toDateTime(timestamp) + "
                         f"INTERVAL {int(layout.retention_days)} DAY DELETE")
    return target + "REMOVE TTL"


def add_column_ddl(layout: Layout, column: Column) -> list[str]:
    """ALTER statements adding a column that ``schema.EVENTS`` gained."""
    tables = [layout.local_table] + (["events"] if layout.cluster else [])
    return [f"ALTER TABLE {layout.qualified(t)}{layout.on_cluster()} ADD COLUMN IF NOT EXISTS "
            f"`{column.name}` {clickhouse_column_type(column)}" for t in tables]


def migrations(layout: Layout) -> list[tuple[int, str, list[str]]]:
    """Numbered schema versions: (version, description, statements). Append, never edit."""
    return [
        (1, "create events", events_ddl(layout)),
    ]
