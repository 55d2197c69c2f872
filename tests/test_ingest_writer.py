"""The group-commit writer on a real DuckDB store: batching, isolation of a failing
request, back-pressure, and cancelled requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import make_store
from otlp_build import spans_table as table
from telequery.ingest.writer import Overloaded, Writer
from telequery.store.duckdb import DuckDBStore


class GatedStore(DuckDBStore):
    """A real DuckDB store whose appends wait for a gate, so a test can pile up requests
    behind a commit in flight (that is how group commit forms in production)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # set once the writer is inside an append
        self.appends: list[int] = []

    def append(self, batch: pa.Table) -> int:
        self.entered.set()
        self.gate.wait(10)
        self.appends.append(batch.num_rows)
        return super().append(batch)


def count(store: DuckDBStore, service: str | None = None) -> int:
    if service is None:
        return store.execute("SELECT count(*) FROM events").rows[0][0]
    return store.execute("SELECT count(*) FROM events WHERE service = $s",
                         {"s": service}).rows[0][0]


def test_concurrent_requests_share_transactions(tmp_path: Path) -> None:
    store = GatedStore(tmp_path)
    writer = Writer(store)
    store.gate.clear()
    first = writer.submit(table(10, "first"))
    assert store.entered.wait(10)  # the writer now waits inside append
    futures = [writer.submit(table(10, f"s{i}")) for i in range(20)]
    store.gate.set()
    assert first.result(10) == 10
    assert [f.result(10) for f in futures] == [10] * 20
    assert count(store) == 210
    assert writer.commits == 2 and store.appends == [10, 200]
    writer.close()


def test_acknowledged_only_after_commit_and_from_many_threads(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    writer = Writer(store)

    def one(i: int) -> tuple[int, int]:
        n = writer.submit(table(5, f"t{i}")).result(10)
        return n, count(store, f"t{i}")  # visible the moment the future resolves

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(40))) == [(5, 5)] * 40
    assert writer.commits <= 40
    writer.close()


def test_a_failing_request_does_not_fail_its_neighbours(tmp_path: Path) -> None:
    store = GatedStore(tmp_path)
    writer = Writer(store)
    store.gate.clear()
    blocker = writer.submit(table(1, "blocker"))
    assert store.entered.wait(10)  # the writer is inside the blocker's commit
    good = writer.submit(table(3, "good"))
    bad = writer.submit(pa.table({"org_id": ["w"], "nonsense": [1]}))  # not the schema
    also_good = writer.submit(table(4, "also-good"))
    store.gate.set()
    assert blocker.result(10) == 1 and good.result(10) == 3 and also_good.result(10) == 4
    with pytest.raises(Exception):  # noqa: B017 - the engine's own error type
        bad.result(10)
    assert count(store) == 8
    assert writer.submit(table(2, "after")).result(10) == 2  # the writer is still alive
    writer.close()


def test_full_queue_refuses_instead_of_dropping(tmp_path: Path) -> None:
    store = GatedStore(tmp_path)
    writer = Writer(store, max_pending_rows=25)
    store.gate.clear()
    inflight = writer.submit(table(10, "a"))
    assert store.entered.wait(10)  # the writer has taken "a" and is blocked in its commit
    queued = writer.submit(table(10, "b"))
    assert writer.is_full() is False
    with pytest.raises(Overloaded) as exc:
        writer.submit(table(10, "c"))
    assert exc.value.retry_after >= 1
    store.gate.set()
    assert inflight.result(10) == 10 and queued.result(10) == 10
    assert count(store) == 20 and count(store, "c") == 0
    assert writer.submit(table(10, "c")).result(10) == 10  # room again once committed
    writer.close()


def test_cancelled_request_is_skipped_and_writer_survives(tmp_path: Path) -> None:
    store = GatedStore(tmp_path)
    writer = Writer(store)
    store.gate.clear()
    blocker = writer.submit(table(1, "blocker"))
    assert store.entered.wait(10)  # the writer is inside the blocker's commit
    gone = writer.submit(table(5, "gone"))
    assert gone.cancel()  # its client disconnected before the commit started
    kept = writer.submit(table(2, "kept"))
    store.gate.set()
    assert blocker.result(10) == 1 and kept.result(10) == 2
    # the backlog drops once the commit loop finishes the group (just after the answers)
    deadline = time.monotonic() + 10
    while writer.pending_rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count(store, "gone") == 0 and writer.pending_rows == 0
    writer.close()


def test_close_drains_the_queue(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    writer = Writer(store)
    futures = [writer.submit(table(3, f"d{i}")) for i in range(10)]
    writer.close()
    assert all(f.done() and f.result() == 3 for f in futures)
    assert count(store) == 30
    with pytest.raises(RuntimeError):
        writer.submit(table(1, "late"))
