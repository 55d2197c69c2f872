"""The ingest log: acknowledged rows, durable on disk before they reach the store.

Why: DuckDB appends cost ~25 µs a row in small transactions (each goes through its WAL)
and ~8 µs in transactions of a row group or more (written straight to the file). Group
commit alone cannot make transactions that big without making every request wait a
second. So a request is acknowledged once its rows are in this log (one fsync per group),
and the store is fed from memory in big transactions; the log is only read back after a
crash. Each record carries a sequence number, and the store commits the highest applied
number in the same transaction as the rows (``DuckDBStore.append(..., mark=)``), so a
replay applies each record exactly once.

Layout: segment files ``<first seq>.log`` in one directory; a record is a 20-byte header
(magic, seq, payload length, CRC-32 of the payload) and an Arrow IPC stream (LZ4). Frames
are self-delimiting and checksummed, so a damaged record is skipped and reading
resynchronises on the next intact header: a record torn by a crash or a full disk was
never acknowledged (acknowledgement waits for the fsync), but records written after it
were, and are kept. A failed write is cut back off the segment at once when the file
system lets us; only trailing bytes with no intact record after them are ever truncated.
When one sequence number appears twice (a write whose fsync failed, so it was never
acknowledged, then the same number written again), the later record is the one replayed.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa

from telequery.store.base import fsync_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telequery.store.base import Store
    from telequery.store.duckdb import DuckDBStore

LOG_DIR = "ingest-log"  # inside the store's data directory
APPLY_ROWS = 245_760  # two DuckDB row groups: big transactions skip the WAL
MAGIC = b"TQL1"
HEADER = struct.Struct("<4sQII")  # magic, seq, payload length, crc32(payload)
SEGMENT_BYTES = 64 << 20
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes | memoryview) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


class IngestLog:
    """Append-only, fsynced segments of (seq, Arrow table) records."""

    def __init__(self, path: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._file: BinaryIO | None = None
        self._size = 0

    def segments(self) -> list[tuple[int, Path]]:
        """(first seq, file) in order."""
        found = []
        for p in self.path.glob("*.log"):
            if p.stem.isdigit():
                found.append((int(p.stem), p))
        return sorted(found)

    def append(self, records: list[tuple[int, pa.Table]]) -> None:
        """Write records and fsync; they are durable when this returns."""
        if not records:
            return
        if self._file is None or self._size >= self.segment_bytes:
            self._rotate(records[0][0])
        f = self._file
        start = self._size
        try:
            for seq, table in records:
                payload = encode(table)
                f.write(HEADER.pack(MAGIC, seq, len(payload), zlib.crc32(payload)))
                f.write(payload)
                self._size += HEADER.size + len(payload)
            f.flush()
            os.fdatasync(f.fileno())
        except OSError:
            self._undo(start)
            raise

    def _undo(self, size: int) -> None:
        """Cut a failed write (full disk, I/O error) back off the segment. If even that
        fails, leave the segment: replay skips the torn bytes and keeps what follows."""
        f, self._file = self._file, None
        if f is None:
            return
        with contextlib.suppress(OSError):
            f.truncate(size)  # also drops what is still buffered past ``size``
            os.fdatasync(f.fileno())
        with contextlib.suppress(OSError):  # a tail that cannot be flushed is torn: skipped
            f.close()
        self._size = size

    def _rotate(self, first_seq: int) -> None:
        if self._file is not None:
            self._file.close()
        self._file = open(self.path / f"{first_seq:020d}.log", "ab")  # noqa: SIM115
        self._size = self._file.tell()
        fsync_dir(self.path)  # make the new file's name durable too

    def replay(self, after: int, *, repair: bool = True,
               through: int | None = None) -> Iterator[tuple[int, pa.Table]]:
        """Every intact record with ``after`` < seq (<= ``through``), in seq order.

        Damaged records are skipped (reading resumes at the next intact frame). With
        ``repair`` a torn tail (bytes after the last intact record of a segment) is
        truncated; a live log, still being appended to, is read with ``repair=False``.
        """
        found: dict[int, tuple[Path, int, int]] = {}  # seq -> where; later copies win
        for _, seg in self.segments():
            data = memoryview(seg.read_bytes())
            end = 0
            for seq, start, end in _frames(data):
                if seq > after and (through is None or seq <= through):
                    found[seq] = (seg, start, end)
            if repair and end < len(data):  # torn: never acknowledged, nothing intact after
                with open(seg, "r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())
        cached: tuple[Path, bytes] | None = None
        for seq in sorted(found):
            seg, start, end = found[seq]
            if cached is None or cached[0] != seg:
                cached = (seg, seg.read_bytes())
            yield seq, decode(memoryview(cached[1])[start:end])

    def drop_through(self, seq: int) -> None:
        """Delete the closed segments whose records are all applied (seq <= ``seq``)."""
        segs = self.segments()
        for (_, path), (next_first, _) in pairwise(segs):
            if next_first <= seq + 1:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete every segment (all of them are applied)."""
        self.close()
        for _, path in self.segments():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _frames(data: memoryview) -> Iterator[tuple[int, int, int]]:
    """(seq, payload start, payload end) of each intact record; after a bad one, the scan
    resumes at the next place the magic appears (a false match fails its CRC)."""
    raw = data.obj if isinstance(data.obj, bytes) else bytes(data)
    pos = 0
    while pos + HEADER.size <= len(data):
        magic, seq, length, crc = HEADER.unpack_from(data, pos)
        start, end = pos + HEADER.size, pos + HEADER.size + length
        if magic == MAGIC and end <= len(data) and zlib.crc32(data[start:end]) == crc:
            yield seq, start, end
            pos = end
            continue
        pos = raw.find(MAGIC, pos + 1)
        if pos < 0:
            return


def recover(store: DuckDBStore, log: IngestLog | None = None, *,
            apply_rows: int = APPLY_ROWS) -> tuple[int, int]:
    """Write the log's records beyond the store's mark to the store, then empty the log.

    Returns (last sequence number, rows written). Runs whenever a DuckDB data directory
    is opened, so every reader (server, CLI, bench) sees what a crashed server had
    acknowledged.
    """
    log = log or IngestLog(Path(store.path) / LOG_DIR)
    last = store.applied_mark()
    pending: list[pa.Table] = []
    rows = written = 0
    for seq, table in log.replay(last):
        pending.append(table)
        rows += table.num_rows
        last = seq
        if rows >= apply_rows:
            written += store.append(pa.concat_tables(pending), mark=last)
            pending, rows = [], 0
    if pending:
        written += store.append(pa.concat_tables(pending), mark=last)
    log.clear()
    return last, written


def open_recovered(spec: str, *, memory_limit: str | None = None,
                   spill_limit: str | None = None) -> Store:
    """``open_store``, then the ingest log's acknowledged rows replayed into it (DuckDB
    keeps such a log; ClickHouse acknowledges only what it stored)."""
    from telequery.store import open_store

    store = open_store(spec, memory_limit=memory_limit, spill_limit=spill_limit)
    if keeps_log(store):
        recover(store)  # type: ignore[arg-type]
    return store


def keeps_log(store: Store) -> bool:
    """Whether acknowledged rows reach ``store`` through an ingest log (DuckDB: a store
    with a data directory that commits the log's mark with the rows)."""
    return hasattr(store, "applied_mark") and getattr(store, "path", None) is not None
