"""The store under concurrency: one writer, many readers, in one process, on both engines."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import ENGINES, make_store
from otlp_build import Span, traces_request
from telequery.ingest.mapping import spans_to_rows
from telequery.query import engine
from telequery.query.ir import Agg, Measure, Query, TimeRange
from test_oracle import BASE, BASE_NS

BATCHES, PER_BATCH, READERS = 30, 200, 4


def batch(i: int):  # type: ignore[no-untyped-def]
    spans = [Span("api", f"op{j % 7}", BASE_NS + (i * PER_BATCH + j) * 1_000_000, 1_000_000,
                  (i + 1).to_bytes(16, "big"), (i * PER_BATCH + j + 1).to_bytes(8, "big"))
             for j in range(PER_BATCH)]
    return spans_to_rows(traces_request(spans), "org").table()


@pytest.mark.parametrize("engine_name", ENGINES)
def test_readers_see_whole_batches_while_writer_appends(tmp_path: Path,
                                                        engine_name: str) -> None:
    store = make_store(engine_name, tmp_path)
    q = Query("events", TimeRange(BASE, BASE + timedelta(days=1)),
              measures=(Measure(Agg.COUNT),))
    tables = [batch(i) for i in range(BATCHES)]
    seen: list[list[float]] = [[] for _ in range(READERS)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read(k: int) -> None:
        try:
            while not done.is_set():
                seen[k].append(engine.run(store, q, "org").rows[0][0])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=read, args=(k,)) for k in range(READERS)]
    for t in readers:
        t.start()
    for t in tables:
        store.append(t)
    done.set()
    for t in readers:
        t.join()
    store.close()
    assert not errors
    for counts in seen:
        assert counts == sorted(counts)  # never goes back
        assert all(c % PER_BATCH == 0 for c in counts)  # never half a batch
    reopened = make_store(engine_name, tmp_path)
    assert engine.run(reopened, q, "org").rows[0][0] == BATCHES * PER_BATCH
    reopened.close()


def test_duckdb_file_with_map_columns_is_migrated_to_entry_lists(tmp_path: Path) -> None:
    """A data directory written when attributes were MAP columns opens with the same rows
    and answers, its maps rewritten as entry lists (schema.py says why)."""
    import duckdb

    from telequery.schema import COLUMN_NAMES, duckdb_ddl
    from telequery.store.duckdb import DB_FILE, DuckDBStore

    table = batch(0)
    old_ddl = (duckdb_ddl().replace("STRUCT(k VARCHAR[], v VARCHAR[])", "MAP(VARCHAR, VARCHAR)")
               .replace("STRUCT(k VARCHAR[], v DOUBLE[])", "MAP(VARCHAR, DOUBLE)")
               .replace("STRUCT(k VARCHAR[], v BOOLEAN[])", "MAP(VARCHAR, BOOLEAN)"))
    assert "STRUCT" not in old_ddl
    con = duckdb.connect(str(tmp_path / DB_FILE))
    con.execute(old_ddl)
    con.register("t", table)
    con.execute("INSERT INTO events SELECT * FROM t")
    con.close()

    store = DuckDBStore(tmp_path)
    types = dict(store.execute("SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'events'").rows)
    assert types["attrs_string"] == "STRUCT(k VARCHAR[], v VARCHAR[])"
    assert types["resource"] == "STRUCT(k VARCHAR[], v VARCHAR[])"
    rows = store.execute("SELECT * FROM events ORDER BY id").rows
    want = sorted(table.to_pylist(), key=lambda r: r["id"])
    got = [dict(zip(COLUMN_NAMES, r, strict=True)) for r in rows]
    for g, w in zip(got, want, strict=True):
        for m in ("attrs_string", "attrs_number", "attrs_bool", "resource"):
            assert g[m] == dict(w[m])
    q = Query("events", TimeRange(BASE, BASE + timedelta(days=1)),
              measures=(Measure(Agg.COUNT),))
    assert engine.run(store, q, "org").rows[0][0] == PER_BATCH
    store.close()


def test_duckdb_file_without_a_newer_column_gains_it(tmp_path: Path) -> None:
    """A data directory created before ``content`` existed opens with the column added
    (null in the old rows) and takes new rows with content."""
    import duckdb

    from telequery.store.duckdb import DB_FILE, DuckDBStore

    store = DuckDBStore(tmp_path)
    store.append(batch(0))
    store.close()
    con = duckdb.connect(str(tmp_path / DB_FILE))  # as a data directory of before
    con.execute("ALTER TABLE events DROP COLUMN content")
    con.close()

    store = DuckDBStore(tmp_path)
    assert store.execute("SELECT count(*) FROM events WHERE content IS NULL").rows == [
        (PER_BATCH,)]
    store.append(batch(1))
    assert store.execute("SELECT count(*) FROM events WHERE content IS NOT NULL").rows == [
        (PER_BATCH,)]
    q = Query("events", TimeRange(BASE, BASE + timedelta(days=1)),
              measures=(Measure(Agg.COUNT),))
    assert engine.run(store, q, "org").rows[0][0] == 2 * PER_BATCH
    store.close()


def test_a_compactions_leftover_copy_is_removed_at_open(tmp_path: Path) -> None:
    """A crash during compaction leaves its copy behind (issue 29): the next open of the
    store removes it, and the store is what it was."""
    from telequery.store.duckdb import DB_FILE, DuckDBStore

    DuckDBStore(tmp_path).close()
    for name in (DB_FILE + ".compact", DB_FILE + ".compact.wal"):
        (tmp_path / name).write_bytes(b"half a copy")
    store = DuckDBStore(tmp_path)
    try:
        assert not (tmp_path / (DB_FILE + ".compact")).exists()
        assert not (tmp_path / (DB_FILE + ".compact.wal")).exists()
        assert store.execute("SELECT count(*) FROM events").rows == [(0,)]
    finally:
        store.close()
