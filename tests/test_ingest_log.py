"""The ingest log and the logged writer on a real DuckDB store: acknowledged rows survive
a crash (replayed exactly once), a torn tail is cut off, readers see every acknowledged
row, and rows the store cannot take never reach the log."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from otlp_build import spans_table as table
from telequery.ingest.log import HEADER, IngestLog, open_recovered
from telequery.ingest.writer import LoggedWriter, open_writer
from telequery.store import open_store
from telequery.store.base import read_your_writes
from telequery.store.duckdb import DuckDBStore


def services(store: DuckDBStore, *, wait: bool = True) -> dict[str, int]:
    """Rows per service, read-your-writes (``wait``) or as applied."""
    with read_your_writes(30.0 if wait else None):  # (tests default to waiting)
        return dict(store.execute("SELECT service, count(*) FROM events GROUP BY 1").rows)


def test_log_round_trip_and_torn_tail(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    log.append([(1, table(3, "a")), (2, table(2, "b"))])
    log.append([(3, table(4, "c"))])
    log.close()
    (_, seg), = log.segments()
    whole = seg.stat().st_size
    with open(seg, "ab") as f:  # a crash mid-write: a header promising more than is there
        f.write(HEADER.pack(b"TQL1", 4, 10_000, 0) + b"partial")
    got = [(seq, t.num_rows, t.column("service")[0].as_py()) for seq, t in log.replay(0)]
    assert got == [(1, 3, "a"), (2, 2, "b"), (3, 4, "c")]
    assert seg.stat().st_size == whole  # the torn record is gone
    assert [seq for seq, _ in log.replay(2)] == [3]


def test_corrupt_last_record_is_skipped(tmp_path: Path) -> None:
    log = IngestLog(tmp_path)
    log.append([(1, table(3, "a")), (2, table(2, "b"))])
    log.close()
    (_, seg), = log.segments()
    data = bytearray(seg.read_bytes())
    data[-5] ^= 0xFF  # a flipped bit in the last payload: its CRC no longer matches
    seg.write_bytes(bytes(data))
    assert [seq for seq, _ in log.replay(0)] == [1]


def test_torn_record_in_the_middle_keeps_every_record_after_it(tmp_path: Path) -> None:
    """What a full disk left before the fix: a torn record, then records acknowledged
    after space came back. Replay resynchronises on the next frame and truncates nothing."""
    log = IngestLog(tmp_path)
    log.append([(1, table(3, "a")), (2, table(2, "b"))])
    log.close()
    (_, seg), = log.segments()
    with open(seg, "ab") as f:  # record 3 torn mid-payload, with the magic inside it too
        f.write(HEADER.pack(b"TQL1", 3, 10_000, 0) + b"TQL1partial")
    later = IngestLog(tmp_path / "later")  # then records 3 (again) and 4, acknowledged
    later.append([(3, table(4, "c")), (4, table(1, "d"))])
    later.close()
    with open(seg, "ab") as f:
        f.write(later.segments()[0][1].read_bytes())
    size = seg.stat().st_size
    got = [(seq, t.num_rows, t.column("service")[0].as_py()) for seq, t in log.replay(0)]
    assert got == [(1, 3, "a"), (2, 2, "b"), (3, 4, "c"), (4, 1, "d")]
    assert seg.stat().st_size == size  # nothing intact was cut off
    assert [seq for seq, _ in log.replay(2)] == [3, 4]


def test_later_copy_of_a_sequence_number_wins(tmp_path: Path) -> None:
    """A write whose fsync failed was never acknowledged; its seq is written again."""
    log = IngestLog(tmp_path)
    log.append([(1, table(3, "stale"))])
    log.append([(1, table(2, "acked"))])
    log.close()
    assert [(s, t.column("service")[0].as_py()) for s, t in log.replay(0)] == [(1, "acked")]


def test_acknowledged_rows_are_replayed_once_after_a_crash(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    # what a crashed server leaves: records 1-3 acknowledged; 1 already in the store
    log = IngestLog(tmp_path / "ingest-log")
    log.append([(1, table(3, "a")), (2, table(2, "b")), (3, table(4, "c"))])
    log.close()
    store.append(pa.concat_tables([table(3, "a")]), mark=1)
    writer = open_writer(store)
    assert isinstance(writer, LoggedWriter) and writer.replayed_rows == 6
    assert services(store) == {"a": 3, "b": 2, "c": 4}
    assert store.applied_mark() == 3 and not list(log.segments())
    # new records continue after the replayed ones
    assert writer.submit(table(5, "d")).result(10) == 5
    writer.close()
    store.close()
    store = DuckDBStore(tmp_path)  # reopening replays nothing twice
    writer = open_writer(store)
    assert writer.replayed_rows == 0
    assert services(store) == {"a": 3, "b": 2, "c": 4, "d": 5}
    writer.close()
    store.close()


def test_acknowledged_rows_wait_in_the_log_until_applied(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    writer = LoggedWriter(store, tmp_path / "log", max_delay=3600, apply_rows=10**9)
    assert writer.submit(table(7, "x")).result(10) == 7
    log = IngestLog(tmp_path / "log")
    assert [(s, t.num_rows) for s, t in log.replay(0)] == [(1, 7)]  # durable before applied
    assert store.applied_mark() == 0 and writer.pending_rows == 7
    assert services(store, wait=False) == {}  # a plain read does not wait for it
    assert writer.lag_ms() > 0
    assert services(store) == {"x": 7}  # a read-your-writes read waits for it
    assert writer.lag_ms() == 0
    assert store.applied_mark() == 1 and writer.pending_rows == 0
    writer.close()
    store.close()


def test_big_groups_are_applied_without_a_reader(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    writer = LoggedWriter(store, tmp_path / "log", max_delay=3600, apply_rows=20)
    futures = [writer.submit(table(5, f"s{i}")) for i in range(8)]
    assert all(f.result(10) == 5 for f in futures)
    writer._applier.join(0.5)  # give the applier a moment; no read barrier involved
    deadline = 50
    while store.applied_mark() < 4 and deadline:
        writer._applier.join(0.1)
        deadline -= 1
    assert store.applied_mark() >= 4
    writer.close()
    assert writer.lag_ms() == 0  # every group acknowledged was seen applied
    assert sum(services(store).values()) == 40
    store.close()


def test_rows_off_schema_are_refused_before_the_log(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    writer = LoggedWriter(store, tmp_path / "log")
    bad = writer.submit(pa.table({"org_id": ["w"], "nonsense": [1]}))
    good = writer.submit(table(3, "good"))
    with pytest.raises(ValueError, match="events schema"):
        bad.result(10)
    assert good.result(10) == 3
    assert services(store) == {"good": 3}
    writer.close()
    store.close()


def test_opening_a_data_directory_recovers_the_log(tmp_path: Path) -> None:
    """The CLI opens a directory through ``open_recovered``; the store factory itself
    does not reach up into the ingest log (store is below ingest)."""
    DuckDBStore(tmp_path).close()
    log = IngestLog(tmp_path / "ingest-log")
    log.append([(1, table(4, "crashed"))])
    log.close()
    plain = open_store(str(tmp_path))
    assert services(plain) == {} and plain.applied_mark() == 0
    plain.close()
    store = open_recovered(str(tmp_path))
    assert services(store) == {"crashed": 4} and store.applied_mark() == 1
    store.close()


def test_one_logged_writer_per_store(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path)
    writer = LoggedWriter(store, tmp_path / "log")
    with pytest.raises(RuntimeError, match="already has an ingest writer"):
        LoggedWriter(store, tmp_path / "log")
    writer.close()
    LoggedWriter(store, tmp_path / "log").close()  # once closed, a new one may start
    store.close()


class FailingStore(DuckDBStore):
    """A real store whose appends fail (a full disk, say) until ``healthy`` is set."""

    healthy = False

    def append(self, batch: pa.Table, *, mark: int | None = None) -> int:
        if not self.healthy:
            raise OSError("No space left on device")
        return super().append(batch, mark=mark)


def test_failed_table_writes_keep_the_rows_for_the_next_start(tmp_path: Path) -> None:
    store = FailingStore(tmp_path)
    writer = LoggedWriter(store, tmp_path / "ingest-log", max_delay=0)
    assert writer.submit(table(6, "kept")).result(10) == 6  # acknowledged: it is logged
    writer.close()  # cannot write the table; must not hang, must not empty the log
    assert store.applied_mark() == 0
    store.healthy = True
    writer = LoggedWriter(store, tmp_path / "ingest-log")  # the restart replays it
    assert writer.replayed_rows == 6 and services(store) == {"kept": 6}
    writer.close()
    store.close()
