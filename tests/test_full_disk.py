"""A real full disk: the data directory on a small tmpfs, filled while a real server
ingests. Every batch the server acknowledged must reach the table once space is back,
live and after a restart, on DuckDB and on chDB; while the store cannot write, readiness
and queries say so (503) instead of hanging or answering without acknowledged rows.

Mounting needs root (CI runs as root); elsewhere the tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port, start_server
from otlp_build import Span, traces_request
from telequery.meta import Meta

SPANS = 200
T0_NS = (int(time.time()) - 600) * 1_000_000_000


def _mount(target: Path, size: str) -> str | None:
    """Mount a tmpfs at ``target``; the reason it cannot be done, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI runs as root)"
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot mount a tmpfs: {r.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    why = _mount(mnt, "48m")
    if why:
        pytest.skip(why)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def batch(seq: int) -> bytes:
    base = seq * SPANS
    spans = (Span("disk-svc", f"op {i}", T0_NS + (base + i) * 1000, 5000,
                  (base + i + 1).to_bytes(16, "big"), (base + i + 1).to_bytes(8, "big"),
                  attrs={"batch.seq": seq, "pad": os.urandom(100).hex()})
             for i in range(SPANS))
    return traces_request(spans).SerializeToString()


def fill(disk: Path, ballast: Path, leave: int) -> None:
    """Write ``ballast`` until only ``leave`` bytes are free on ``disk``."""
    free = shutil.disk_usage(disk).free
    with open(ballast, "ab") as f:
        f.write(b"\0" * max(0, free - leave))


def count(url: str, token: str) -> tuple[int, int]:
    """(HTTP status, spans of the test's service) through the native query API."""
    now = int(time.time() * 1000)
    body = {"dataset": "events", "from": now - 7_200_000, "to": now + 60_000,
            "measures": [{"agg": "count"}], "limit": 1,
            "filter": {"and": [{"field": "$metadata.service", "op": "eq",
                                "value": "disk-svc"}]}}
    r = httpx.post(url + "/api/v1/query", json=body, timeout=90,
                   headers={"authorization": f"Bearer {token}"})
    if r.status_code != 200:
        return r.status_code, -1
    return 200, int(r.json()["rows"][0][0] or 0)


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_full_disk_loses_no_acknowledged_batch(small_disk: Path, engine: str,
                                               tmp_path: Path) -> None:
    data = small_disk / "data"
    data.mkdir()
    store = f"chdb:{data / 'ch'}" if engine == "chdb" else None
    meta = Meta(data / "meta.sqlite")
    token = meta.create_token("disk", ["ingest", "query"])
    meta.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = start_server(data, port, store=store, log=log, apply_delay=0.2)
    headers = {"content-type": "application/x-protobuf", "authorization": f"Bearer {token}"}
    ballast = small_disk / "ballast"
    acked: list[int] = []
    refused = 0
    seq = 0
    try:
        with httpx.Client(headers=headers, timeout=30) as http:
            def post() -> int:
                nonlocal seq, refused
                seq += 1
                r = http.post(url + "/v1/traces", content=batch(seq))
                if r.status_code == 200:
                    acked.append(seq)
                else:
                    assert r.status_code in (503, 507), r.text
                    refused += 1
                return r.status_code

            for _ in range(10):  # before: plenty of space
                assert post() == 200
            fill(small_disk, ballast, 2 << 20)
            statuses = [post() for _ in range(80)]  # during: the disk fills up
            assert 503 in statuses, "the disk never filled"
            # While full: readiness says so at once, and no query answers without rows
            # the server acknowledged.
            t0 = time.monotonic()
            status, n = count(url, token)
            assert status == 503 or n == len(acked) * SPANS, (status, n)
            assert time.monotonic() - t0 < 15
            ballast.unlink()  # after: space is back, the server recovers by itself
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and post() != 200:
                time.sleep(0.5)
            for _ in range(10):
                post()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status, n = count(url, token)
                if status == 200:
                    break
                time.sleep(0.5)
            assert (status, n) == (200, len(acked) * SPANS), f"{refused} refused"
            r = httpx.get(url + "/readyz", timeout=10)
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # After a restart every acknowledged batch is still there.
    proc = start_server(data, port, store=store, log=log, apply_delay=0.2)
    try:
        assert count(url, token) == (200, len(acked) * SPANS)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_duckdb_reopens_after_a_fatal_checkpoint_on_a_full_disk(small_disk: Path) -> None:
    """DuckDB invalidates the database when a checkpoint cannot write: reads answer
    StoreUnavailable at once instead of waiting, the store reopens itself once space is
    back, and every acknowledged row is applied, live and after a restart."""
    from telequery.ingest.fast import spans_from_bytes
    from telequery.ingest.writer import LoggedWriter
    from telequery.store import StoreUnavailable, open_store
    from telequery.store.base import read_your_writes
    from telequery.store.duckdb import DuckDBStore

    data = small_disk / "data"
    store = DuckDBStore(data)
    writer = LoggedWriter(store, data / "ingest-log", max_delay=0.05)
    tables = [spans_from_bytes(batch(i), "disk")[0].table() for i in range(40)]
    acked = 0
    for t in tables[:10]:
        acked += writer.submit(t).result(10)
    with read_your_writes(30):  # applied, then the disk fills
        store.execute("SELECT 1")
    ballast = small_disk / "ballast"
    fill(small_disk, ballast, 256 << 10)
    for t in tables[10:20]:
        with contextlib.suppress(OSError, StoreUnavailable):
            acked += writer.submit(t).result(10)
    with pytest.raises(StoreUnavailable):
        store.checkpoint()  # the fatal error the audit saw
    assert store.failure is not None
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.execute("SELECT count(*) FROM events")
    assert time.monotonic() - t0 < 5
    ballast.unlink()
    for t in tables[20:]:
        acked += writer.submit(t).result(10)
    deadline = time.monotonic() + 30
    while True:
        try:
            with read_your_writes(30):
                n = store.execute("SELECT count(*) FROM events").rows[0][0]
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store never came back"
            time.sleep(0.2)
    assert n == acked and acked >= 30 * SPANS
    assert writer.problems() == []
    writer.close()
    store.close()
    again = open_store(str(data))
    assert again.execute("SELECT count(*) FROM events").rows[0][0] == acked
    again.close()


def test_a_failed_log_write_is_cut_back_and_later_records_replay(small_disk: Path) -> None:
    from telequery.ingest.fast import spans_from_bytes
    from telequery.ingest.log import IngestLog

    log = IngestLog(small_disk / "log")
    tables = [spans_from_bytes(batch(i), "disk")[0].table() for i in range(3)]
    log.append([(1, tables[0])])
    (_, seg), = log.segments()
    size = seg.stat().st_size
    ballast = small_disk / "ballast"
    fill(small_disk, ballast, 4 << 10)
    with pytest.raises(OSError):
        log.append([(2, tables[1])])
    assert seg.stat().st_size == size  # no torn record left behind
    ballast.unlink()
    log.append([(2, tables[2])])  # the same seq, now acknowledged
    log.close()
    got = [(seq, t.num_rows) for seq, t in log.replay(0)]
    assert got == [(1, SPANS), (2, SPANS)]
    assert [t.column("id").to_pylist() for _, t in log.replay(1)] == \
        [tables[2].column("id").to_pylist()]
