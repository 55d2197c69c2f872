"""Queries at their own CPU priority (``serve --query-nice``): on DuckDB statements run on
threads at that nice value, DuckDB's worker threads too, and the caller (the ingest side)
keeps its own; on chDB the engine lowers the threads executing each query. Answers are
unchanged; chDB inserts do not wait for queries. What it buys under load is measured in
bench/load.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from otlp_build import spans_table
from telequery.schema import arrow_schema
from telequery.store import open_store, priority
from telequery.store.duckdb import DuckDBStore


def test_statements_run_at_the_query_priority(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "duck")
    try:
        mine = priority.nice_of(threading.get_native_id())
        assert store.execute("SELECT count(*) FROM events").rows == [(0,)]
        store.set_query_nice(7)
        store.append(pa.Table.from_pylist([], schema=arrow_schema()))  # writes still work
        assert store.execute("SELECT 40 + 2 AS x").rows == [(42,)]
        pool = [t.native_id for t in threading.enumerate()
                if t.name.startswith("telequery-query")]
        assert pool and all(priority.nice_of(t) == 7 for t in pool if t is not None)
        assert store._engine_threads  # DuckDB started its workers with the database
        assert {priority.nice_of(t) for t in store._engine_threads} <= {7, None}  # None: gone
        assert priority.nice_of(threading.get_native_id()) == mine  # the caller keeps its own
        with pytest.raises(ValueError, match="0-19"):
            store.set_query_nice(20)
    finally:
        store.close()


def _nices_while(run: threading.Thread) -> set[int | None]:
    """The nice values of this process's threads, sampled until ``run`` ends."""
    seen: set[int | None] = set()
    run.start()
    while run.is_alive():
        seen |= {priority.nice_of(t) for t in priority.threads()}
        time.sleep(0.005)
    run.join()
    return seen


def test_clickhouse_queries_run_at_the_query_priority(tmp_path: Path) -> None:
    """On chDB the engine's own ``os_thread_priority``: the threads executing a query run
    at the nice value while it runs, and the calling thread gets its own back. ClickHouse
    applies it only with ``CAP_SYS_NICE``; without it the store refuses the setting."""
    store = open_store(f"chdb:{tmp_path / 'ch'}")
    try:
        if not priority.can_raise_others():  # ClickHouse would ignore it: refused instead
            with pytest.raises(ValueError, match="CAP_SYS_NICE"):
                store.set_query_nice(7)
            return
        mine = priority.nice_of(threading.get_native_id())
        scan = "SELECT sum(number % 7) FROM numbers(200000000)"
        assert 7 not in _nices_while(threading.Thread(target=store.execute, args=(scan,)))
        store.set_query_nice(7)
        answers: list[object] = []
        query = threading.Thread(target=lambda: answers.append(store.execute(scan).rows))
        assert 7 in _nices_while(query)
        assert answers == [[(599_999_994,)]]
        store.append(spans_table(3, "svc"))  # inserts are not lowered, and still work
        assert store.execute("SELECT count() FROM events").rows == [(3,)]
        assert priority.nice_of(threading.get_native_id()) == mine
        with pytest.raises(ValueError, match="0-19"):
            store.set_query_nice(20)
    finally:
        store.close()


def test_chdb_insert_does_not_wait_for_a_running_query(tmp_path: Path) -> None:
    """Statements run on connections of their own: an insert (and a short query) is done
    while a 3-second query is still running, instead of queueing behind it."""
    store = open_store(f"chdb:{tmp_path / 'ch'}")
    try:
        slow = threading.Thread(target=store.execute,
                                args=("SELECT sleepEachRow(0.5) FROM numbers(6)",))
        slow.start()
        running = "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow%(0.5)%'"
        deadline = time.monotonic() + 10
        while store.execute(running).rows[0][0] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # 2: the slow query and this one, which names it too
        assert store.execute(running).rows[0][0] >= 2
        assert store.append(spans_table(5, "svc")) == 5
        assert store.execute("SELECT count() FROM events").rows == [(5,)]
        assert slow.is_alive()  # both answered while the slow query still ran
        slow.join()
    finally:
        store.close()
