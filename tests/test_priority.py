"""Queries at their own CPU priority (``serve --query-nice``): statements run on threads at
that nice value, DuckDB's worker threads too, and the caller (the ingest side) keeps its
own; answers are unchanged. What it buys under load is measured in bench/load.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from telequery.cli import app
from telequery.schema import arrow_schema
from telequery.store import priority
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


def test_serve_refuses_query_nice_where_the_engine_has_its_own_threads(tmp_path: Path) -> None:
    """chDB runs queries and inserts on ClickHouse's threads: the option would do nothing
    there, so ``serve`` says so instead of starting."""
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "meta"), "--store",
                                      f"chdb:{tmp_path / 'ch'}", "--query-nice", "10"])
    assert result.exit_code == 2
    assert "--query-nice" in result.output and "ClickHouse" in result.output
