"""Queries do not wait on ingest by default, say how fresh they are, and wait (boundedly)
when a request asks for read-your-writes (``api/app.py: Consistency``, the writer's lag).

The apply is held open by gating the real DuckDB store's ``append`` on an event: the one
piece of fault injection, standing for an apply that takes long (a large batch on a busy
machine).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from conftest import LiveServer, make_store, own_rss, serve
from otlp_build import Span, spans_table, traces_request
from telequery.api.app import RYW_DEFAULT_WAIT, RYW_MAX_WAIT, ryw_wait
from telequery.meta import Meta

ORG = "acme"
NOW = time.time_ns()
SPANS = 1000


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[LiveServer, threading.Event]]:
    store, meta = make_store("duckdb", tmp_path), Meta(tmp_path / "meta.sqlite")
    gate = threading.Event()
    append = store.append

    def held_append(batch, **kw):  # type: ignore[no-untyped-def]
        gate.wait(60)
        return append(batch, **kw)

    store.append = held_append  # type: ignore[method-assign]
    with serve(store, meta, apply_delay=0.05, read_your_writes=None) as srv:
        try:
            yield srv, gate
        finally:
            gate.set()  # let the writer finish at shutdown
    meta.close()
    store.close()


def _ingest(srv: LiveServer) -> None:
    spans = [Span("svc", f"op {i}", NOW - i * 1000, 1000, (1).to_bytes(16, "big"),
                  (i + 1).to_bytes(8, "big")) for i in range(SPANS)]
    r = httpx.post(srv.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={"Authorization": f"Bearer {srv.token(ORG, ('ingest',))}",
                            "content-type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text


def _count(srv: LiveServer, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{srv.url}/client/v4/accounts/{ORG}/workers/observability/telemetry/query",
        headers={"Authorization": f"Bearer {srv.token(ORG, ('query',))}", **headers},
        json={"queryId": "adhoc", "view": "calculations", "dry": True,
              "timeframe": {"from": NOW // 1_000_000 - 3_600_000,
                            "to": NOW // 1_000_000 + 60_000},
              "parameters": {"calculations": [{"operator": "count"}]}}, timeout=60)


def _n(r: httpx.Response) -> float:
    aggregates = r.json()["result"]["calculations"][0]["aggregates"]
    return aggregates[0]["count"] if aggregates else 0


def test_a_default_query_answers_while_an_apply_is_held(
        gated: tuple[LiveServer, threading.Event]) -> None:
    srv, gate = gated
    _ingest(srv)  # acknowledged: in the ingest log; the apply starts and is held
    time.sleep(0.2)  # let the applier pick the rows up (it then waits on the gate)
    r = _count(srv)  # would wait for the held apply if queries waited on ingest
    assert r.status_code == 200, r.text
    assert _n(r) == 0  # the rows are acknowledged, not applied: not read
    lag = float(r.headers["x-telequery-freshness-lag-ms"])
    assert lag > 0
    assert r.json()["result"]["statistics"]["freshness_lag_ms"] > 0
    # Read-your-writes, bounded: not applied within the stated wait -> 503 with the reason
    slow = _count(srv, **{"X-Telequery-Read-Your-Writes": "0.5"})
    assert slow.status_code == 503, slow.text
    assert "still applying" in slow.text
    gate.set()
    fresh = _count(srv, **{"X-Telequery-Read-Your-Writes": "true"})
    assert fresh.status_code == 200 and _n(fresh) == SPANS
    assert fresh.headers["x-telequery-freshness-lag-ms"] == "0"
    after = _count(srv)
    assert _n(after) == SPANS and after.headers["x-telequery-freshness-lag-ms"] == "0"
    assert after.json()["result"]["statistics"]["freshness_lag_ms"] == 0


def test_every_api_says_how_fresh_it_is(gated: tuple[LiveServer, threading.Event]) -> None:
    srv, gate = gated
    gate.set()
    token = srv.token(ORG)
    for method, path, body in (
            ("GET", "/api/v1/whoami", None),
            ("POST", "/api/v1/reports/query", {"dataset": "llm_generations",
                                               "measures": ["calls"]}),
            ("POST", "/api/v1/sql", {"sql": "SELECT count(*) FROM events"})):
        r = httpx.request(method, srv.url + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
        assert "x-telequery-freshness-lag-ms" in r.headers, (path, r.status_code)


def test_read_your_writes_header_values() -> None:
    assert ryw_wait(None, None) is None and ryw_wait(None, 5.0) == 5.0
    assert ryw_wait(b"true", None) == ryw_wait(b"yes", None) == RYW_DEFAULT_WAIT
    assert ryw_wait(b"2.5", None) == 2.5 and ryw_wait(b"1e9", None) == RYW_MAX_WAIT
    assert ryw_wait(b"false", 5.0) is None and ryw_wait(b"0", 5.0) is None
    assert ryw_wait(b"-3", None) is None and ryw_wait(b"nan", None) is None


def test_idle_trim_gives_the_buffer_pool_back(tmp_path: Path) -> None:
    """After a burst of reads the cache is evicted once the store has been idle, the
    memory limit is as configured again, and queries go on."""
    store = make_store("duckdb", tmp_path)
    rows = spans_table(200_000, "svc", org=ORG)
    noise = pa.array([os.urandom(500).hex() for _ in range(rows.num_rows)])  # 200 MB of
    rows = rows.set_column(rows.schema.get_field_index("message"), "message", noise)  # text
    store.append(rows)
    store.checkpoint()  # type: ignore[attr-defined]  # in the file: reads fill the cache
    limit = store.execute("SELECT current_setting('memory_limit')").rows[0][0]

    def cached() -> int:
        return store.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").rows[0][0]

    for _ in range(2):
        store.execute("SELECT max(message) FROM events")
    busy = cached()
    assert busy > 64 << 20
    assert not store.trim_if_idle(3600)  # not idle that long
    assert store.trim_if_idle(0)
    assert not store.trim_if_idle(0)  # once per idle spell
    after = cached()
    assert after < busy and after <= 64 << 20
    assert store.execute("SELECT current_setting('memory_limit')").rows[0][0] == limit
    assert store.execute("SELECT count(*) FROM events").rows[0][0] == 200_000
    assert store.trim_if_idle(0)  # activity again: trims again
    store.close()


def test_idle_trim_gives_chdbs_memory_back(tmp_path: Path) -> None:
    """chDB's allocator keeps what a heavy statement used; once the store is idle the trim
    returns it to the system, and queries go on."""
    store = make_store("chdb", tmp_path)
    store.append(spans_table(1_000, "svc", org=ORG))

    store.execute("SELECT count() FROM (SELECT number % 3000000 AS k, groupArray(number) "
                  "FROM numbers(20000000) GROUP BY k)")
    busy = own_rss()
    assert not store.trim_if_idle(3600)  # not idle that long
    assert store.trim_if_idle(0)
    assert not store.trim_if_idle(0)  # once per idle spell
    assert own_rss() < busy - (32 << 20), "the allocator kept what the aggregate used"
    assert store.execute("SELECT count(*) FROM events").rows[0][0] == 1_000
    assert store.trim_if_idle(0)  # activity again: trims again
    store.close()
