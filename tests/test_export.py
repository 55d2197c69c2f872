"""Parquet export round-trips: the files read back with DuckDB and pandas give the same
counts and sums as the query API, on both engines, locally and from a running server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import ENGINES, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery import export as export_module
from telequery.cli import app
from telequery.export import export_events, local_source, remote_source
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta
from telequery.query import Query, TimeRange, query_from_dict, run
from telequery.query import parse_time as _t

ORG, OTHER = "acme", "globex"
DAY_NS = 86_400 * 10**9


def _data(store) -> None:  # type: ignore[no-untyped-def]
    now = time.time_ns()
    for org, n in ((ORG, 300), (OTHER, 50)):
        spans = [Span(f"svc{i % 3}", f"op {i}", now - (i % 4) * DAY_NS - i * 10**6,
                      (i + 1) * 10**6, (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big"),
                      attrs={"n": i, "tier": "gold"}) for i in range(n)]
        store.append(spans_to_rows(traces_request(spans), org).table())
        logs = [Log("svc", f"line {i}", now - (i % 3) * DAY_NS - i) for i in range(n // 3)]
        store.append(logs_to_rows(logs_request(logs), org).table())


def _oracle(store) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    q = query_from_dict({"dataset": "events", "from": 0,
                         "to": int(time.time() * 1000) + 60_000,
                         "measures": [{"agg": "count"},
                                      {"agg": "sum", "field": "$metadata.duration"}]})
    (count, total), = run(store, q, ORG).rows
    return count, total


def _read_back(folder: Path) -> tuple[int, float, set[str]]:
    con = duckdb.connect()
    count, total = con.execute(f"SELECT count(*), sum(duration_ms) FROM "
                               f"read_parquet('{folder}/*.parquet')").fetchone()
    frame = pd.concat(pd.read_parquet(p) for p in sorted(folder.glob("*.parquet")))
    assert len(frame) == count
    assert abs(frame["duration_ms"].sum() - total) < 1e-6
    return count, total, set(frame["org_id"])


@pytest.mark.parametrize("engine", ENGINES)
def test_local_export_reads_back_with_the_same_numbers(engine: str, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    try:
        _data(store)
        monkey_chunk = export_module.CHUNK_ROWS
        export_module.CHUNK_ROWS = 70  # force windows to be split
        try:
            written = export_events(local_source(store, ORG), _t(0, "from"),
                                    datetime.now(UTC) + timedelta(minutes=1), tmp_path / "out")
        finally:
            export_module.CHUNK_ROWS = monkey_chunk
        assert 4 <= len(written) <= 5  # one file per UTC day with events
        count, total, orgs = _read_back(tmp_path / "out")
        want_count, want_total = _oracle(store)
        assert count == want_count == 400 and abs(total - want_total) < 1e-6
        assert orgs == {ORG}
        # the maps come back as maps
        first = pd.read_parquet(written[0][0])
        assert dict(first["resource"].iloc[0])["service.name"].startswith("svc")
    finally:
        store.close()


def test_cli_export_from_a_running_server(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    _data(store)
    try:
        with serve(store, meta) as live:
            token = live.token(ORG, ("query",))
            result = CliRunner().invoke(app, ["export", str(tmp_path / "cli"), "--url",
                                              live.url, "--token", token])
            assert result.exit_code == 0, result.output
            assert "wrote 400 events" in result.output
            count, total, orgs = _read_back(tmp_path / "cli")
            assert (count, orgs) == (400, {ORG})
            assert abs(total - _oracle(store)[1]) < 1e-6
            # the same through the source the CLI uses, in one window
            direct = export_events(remote_source(live.url, token),
                                   datetime.now(UTC) - timedelta(hours=12),
                                   datetime.now(UTC) + timedelta(minutes=1), tmp_path / "day")
            assert sum(n for _, n in direct) == len(_recent(store))
    finally:
        store.close()
        meta.close()


def _recent(store) -> list:  # type: ignore[no-untyped-def]
    q = Query("events", TimeRange(datetime.now(UTC) - timedelta(hours=12),
                                  datetime.now(UTC) + timedelta(minutes=1)), limit=10_000)
    return run(store, q, ORG).rows
