"""The ClickHouse store itself: schema versions, upgrades, retention, Arrow round trips,
timeouts, migration from DuckDB, the cluster DDL; and a real server when one is given.

Server tests run only when ``TELEQUERY_CLICKHOUSE_URL`` is set (e.g.
``clickhouse://default:@127.0.0.1:8123/telequery_test``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from conftest import make_store
from telequery.cli import app
from telequery.ingest.load import load
from telequery.query import engine
from telequery.query.errors import QueryTimeout
from telequery.query.ir import Agg, Dimension, Measure, Query, TimeRange
from telequery.schema import COLUMN_NAMES, arrow_schema
from telequery.store import open_store
from telequery.store.clickhouse import ClickHouseError, ClickHouseStore, open_clickhouse
from telequery.store.clickhouse_ddl import Layout, events_ddl, quote

START = datetime(2024, 5, 6, tzinfo=UTC)
SERVER = os.environ.get("TELEQUERY_CLICKHOUSE_URL")


def batch(n: int = 3) -> pa.Table:
    """Rows exercising every column kind: NULLs, maps (incl. empty), arrays, µs times."""
    rows = []
    for i in range(n):
        row = {c: None for c in COLUMN_NAMES}
        row.update(org_id="o1", dataset="d", kind="log", id=f"id{i:03d}",
                   timestamp=datetime(2024, 5, 6, 1, 2, 3, 123456 + i),
                   sample_interval=1.0 + i, status_code=200 + i if i else None,
                   cold_start=bool(i % 2) if i else None, message=f"héllo {i}",
                   teams=["a", "b"] if i else [],
                   attrs_string={"k": f"v{i}"} if i else {},
                   attrs_number={"x": 1.5 * i}, attrs_bool={"f": i == 1},
                   resource={"service.name": "svc"})
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=arrow_schema())


def expected(table: pa.Table) -> list[tuple]:
    """The rows as DuckDB's client returns them (maps as dicts, naive datetimes)."""
    out = []
    for r in table.to_pylist():
        out.append(tuple(dict(v) if isinstance(v, list) and v and isinstance(v[0], tuple)
                         else v for v in r.values()))
    return out


def test_arrow_round_trip_equals_duckdb(tmp_path: Path) -> None:
    t = batch()
    results = {}
    for engine_name in ("duckdb", "chdb"):
        store = make_store(engine_name, tmp_path)
        try:
            assert store.append(t) == 3
            res = store.execute("SELECT * FROM events ORDER BY id")
            results[engine_name] = res.rows
            assert res.columns == list(COLUMN_NAMES)
        finally:
            store.close()
    assert results["chdb"] == results["duckdb"]
    rows = results["chdb"]
    assert rows[0][COLUMN_NAMES.index("timestamp")] == datetime(2024, 5, 6, 1, 2, 3, 123456)
    assert rows[0][COLUMN_NAMES.index("attrs_string")] == {}
    assert rows[1][COLUMN_NAMES.index("teams")] == ["a", "b"]
    assert rows[0][COLUMN_NAMES.index("status_code")] is None


def test_schema_version_upgrade_and_persistence(tmp_path: Path) -> None:
    spec = f"chdb:{tmp_path / 'ch'}"
    store = open_clickhouse(spec)
    assert store.applied == [1] and store.schema_version() == 1
    store.append(batch())
    # An older table without a column the schema now has: the next start adds it.
    store.transport.command("ALTER TABLE `default`.`events` DROP COLUMN fingerprint")
    store.close()
    store = open_clickhouse(spec)
    try:
        assert store.applied == [2]
        res = store.execute("SELECT version, description FROM telequery_schema ORDER BY "
                            "version")
        assert res.rows == [(1, "create events"), (2, "add columns fingerprint")]
        assert store.execute("SELECT count(), countIf(fingerprint IS NULL) FROM events"
                             ).rows == [(3, 3)]
    finally:
        store.close()
    store = open_clickhouse(spec)  # nothing to do on a current schema
    try:
        assert store.applied == [] and store.schema_version() == 2
    finally:
        store.close()


def test_retention_ttl_applied_on_start(tmp_path: Path) -> None:
    spec = f"chdb:{tmp_path / 'ch'}"

    def engine_full(store: ClickHouseStore) -> str:
        return store.execute("SELECT engine_full FROM system.tables WHERE database = "
                             "'default' AND name = 'events'").rows[0][0]

    store = open_clickhouse(spec, retention_days=7)
    assert "TTL toDateTime(timestamp) + toIntervalDay(7)" in engine_full(store)
    assert "PARTITION BY toDate(timestamp)" in engine_full(store)
    store.close()
    store = open_clickhouse(spec, retention_days=0)
    try:
        assert " TTL " not in engine_full(store)
    finally:
        store.close()


def test_one_chdb_directory_per_process(tmp_path: Path) -> None:
    first = open_store(f"chdb:{tmp_path / 'a'}")
    try:
        same = open_store(f"chdb:{tmp_path / 'a'}")  # the same directory is shared
        same.close()
        with pytest.raises(ClickHouseError, match="one chDB data directory per process"):
            open_store(f"chdb:{tmp_path / 'b'}")
    finally:
        first.close()
    other = open_store(f"chdb:{tmp_path / 'b'}")  # fine once the first is closed
    other.close()


def test_timeout_is_a_query_timeout(tmp_path: Path) -> None:
    store = make_store("chdb", tmp_path)
    try:
        with pytest.raises(QueryTimeout):
            store.execute("SELECT count() FROM numbers(100000000000) WHERE "
                          "cityHash64(number) % 7 = 1", timeout=1)
    finally:
        store.close()


def test_cluster_ddl() -> None:
    ddl = events_ddl(Layout(database="tq", cluster="prod", retention_days=30))
    local, dist = ddl
    assert "CREATE TABLE IF NOT EXISTS `tq`.`events_local` ON CLUSTER `prod`" in local
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/tq/events_local', '{replica}')" \
        in local
    assert "ORDER BY (org_id, dataset, toStartOfHour(timestamp), kind, timestamp)" in local
    assert "TTL toDateTime(timestamp) + INTERVAL 30 DAY DELETE" in local
    assert "Distributed(`prod`, `tq`, events_local, cityHash64(ifNull(trace_id, id)))" in dist
    assert quote("a`b") == "`a\\`b`"


def test_migrate_command(tmp_path: Path) -> None:
    from telequery.synth import generate

    src = tmp_path / "duck"
    duck = open_store(str(src))
    n = load(duck, "o1", generate(3, 500, START, START + timedelta(hours=1)))
    q = Query("events", TimeRange(START, START + timedelta(hours=1)),
              measures=(Measure(Agg.COUNT), Measure(Agg.P90, "$metadata.duration")),
              group_by=(Dimension("$metadata.service"),))
    want = engine.run(duck, q, "o1").rows
    duck.close()
    result = CliRunner().invoke(app, ["migrate", "--from", str(src), "--to",
                                      f"chdb:{tmp_path / 'ch'}"])
    assert result.exit_code == 0, result.output
    ch = open_store(f"chdb:{tmp_path / 'ch'}")
    try:
        assert ch.execute("SELECT count() FROM events").rows == [(n,)]
        got = engine.run(ch, q, "o1").rows
        assert [r[:2] for r in got] == [r[:2] for r in want]
        assert [r[2] for r in got] == pytest.approx([r[2] for r in want], rel=1e-9)
    finally:
        ch.close()
    bad = CliRunner().invoke(app, ["migrate", "--from", str(tmp_path / "none"), "--to",
                                   f"chdb:{tmp_path / 'ch'}"])
    assert bad.exit_code == 2


@pytest.mark.skipif(not SERVER, reason="set TELEQUERY_CLICKHOUSE_URL to run against a "
                                       "ClickHouse server (clickhouse://user:pass@host:8123/db)")
def test_server_round_trip_and_query(tmp_path: Path) -> None:
    assert SERVER is not None
    store = open_store(SERVER)
    duck = make_store("duckdb", tmp_path)
    try:
        store.transport.command(f"TRUNCATE TABLE IF EXISTS "
                                f"{store.layout.qualified(store.layout.local_table)}")
        t = batch(5)
        store.append(t)
        duck.append(t)
        assert store.execute("SELECT * FROM events ORDER BY id").rows == \
            duck.execute("SELECT * FROM events ORDER BY id").rows
        q = Query("events", TimeRange(START, START + timedelta(days=1)),
                  measures=(Measure(Agg.COUNT), Measure(Agg.MEDIAN, "x", type=None)),
                  group_by=(Dimension("k"),))
        a, b = engine.run(store, q, "o1"), engine.run(duck, q, "o1")
        assert a.rows == b.rows and a.stats.rows_read > 0
    finally:
        store.close()
        duck.close()


@pytest.mark.parametrize("value", ["a\\.b", "x\\\\y", "q'q", "tab\\tz", "raw\ttab",
                                   "nl\n\r", "\\bword\\b", "nul\0x", "é😀 {p0:String}"])
def test_string_parameters_arrive_verbatim(tmp_path: Path, value: str) -> None:
    """chDB unescapes parameter text; the store escapes so regexes keep their backslashes."""
    store = make_store("chdb", tmp_path)
    try:
        assert store.execute("SELECT {p:String}", {"p": value}).rows == [(value,)]
    finally:
        store.close()
