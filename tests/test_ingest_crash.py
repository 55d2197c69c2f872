"""Crash safety: a real server process gets a stream of OTLP batches and is killed with
SIGKILL mid-stream. After a restart every acknowledged batch is present with all its rows,
and no batch is visible half-written."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import free_port, start_server
from otlp_build import Span, traces_request
from telequery.ingest.log import IngestLog, open_recovered
from telequery.meta import Meta
from telequery.query import engine
from telequery.query.ir import Agg, Dimension, Measure, Query, TimeRange
from telequery.store.duckdb import DuckDBStore

ORG = "crash"
SPANS_PER_BATCH = 300
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
T0_NS = int(T0.timestamp()) * 1_000_000_000


def batch(batch_id: str, seq: int) -> bytes:
    base = seq * SPANS_PER_BATCH
    spans = (Span("crash-svc", f"op {i}", T0_NS + (base + i) * 1000, 5000,
                  (base + i + 1).to_bytes(16, "big"), (base + i + 1).to_bytes(8, "big"),
                  attrs={"batch.id": batch_id, "batch.pos": i})
             for i in range(SPANS_PER_BATCH))
    return traces_request(spans).SerializeToString()


@pytest.mark.parametrize("apply_delay", [1.0, 3600.0], ids=["default", "log-only"])
def test_sigkill_mid_stream_loses_no_acknowledged_batch(tmp_path: Path,
                                                        apply_delay: float) -> None:
    """With the default delay some acknowledged rows are in the table and some only in the
    ingest log at the kill; with an hour's delay all of them are only in the log."""
    data = tmp_path / "data"
    data.mkdir()
    meta = Meta(data / "meta.sqlite")
    token = meta.create_token(ORG, ["ingest"])
    meta.close()
    port = free_port()
    proc = start_server(data, port, apply_delay=apply_delay)
    url = f"http://127.0.0.1:{port}/v1/traces"
    headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {token}"}
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(headers=headers, timeout=10) as http:
            for seq in range(worker, 10_000, 4):  # bounded; the kill ends it far sooner
                if stop.is_set():
                    return
                bid = f"b{seq:05d}"
                try:
                    r = http.post(url, content=batch(bid, seq))
                except httpx.HTTPError:
                    return  # the server died under us: this batch was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.append(bid)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight right now
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acked) >= 40
    if apply_delay > 60:  # nothing reached the table: the restart must replay the log
        logged = sum(1 for _ in IngestLog(data / "ingest-log").replay(0))
        assert logged >= len(acked)
        store = DuckDBStore(data)
        assert store.execute("SELECT count(*) FROM events").rows[0][0] == 0
        store.close()

    # Restart: the server must come back on the same data and take writes again.
    proc = start_server(data, port)
    r = httpx.post(url, content=batch("after-restart", 9_999), headers=headers, timeout=10)
    assert r.status_code == 200
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)

    store = open_recovered(str(data))
    q = Query("events", TimeRange(T0 - timedelta(hours=1), T0 + timedelta(hours=1)),
              measures=(Measure(Agg.COUNT, alias="n"),),
              group_by=(Dimension("batch.id"),), limit=100_000)
    counts = {bid: n for bid, n in engine.run(store, q, ORG).rows}
    store.close()
    missing = set(acked) - set(counts)
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    partial = {bid: n for bid, n in counts.items() if n != SPANS_PER_BATCH}
    assert not partial, f"half-written batches: {partial}"
    assert "after-restart" in counts
