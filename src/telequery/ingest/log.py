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
(magic, seq, payload length, CRC-32 of the payload) and an Arrow IPC stream (LZ4). A torn
tail (a crash mid-write) fails the length or CRC check and is cut off: it was never
acknowledged, because acknowledgement waits for the fsync.
"""

from __future__ import annotations

import os
import struct
import zlib
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Iterator

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
        for seq, table in records:
            payload = encode(table)
            f.write(HEADER.pack(MAGIC, seq, len(payload), zlib.crc32(payload)))
            f.write(payload)
            self._size += HEADER.size + len(payload)
        f.flush()
        os.fdatasync(f.fileno())

    def _rotate(self, first_seq: int) -> None:
        if self._file is not None:
            self._file.close()
        self._file = open(self.path / f"{first_seq:020d}.log", "ab")  # noqa: SIM115
        self._size = self._file.tell()
        fd = os.open(self.path, os.O_RDONLY)  # make the new file's name durable too
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def replay(self, after: int) -> Iterator[tuple[int, pa.Table]]:
        """Every intact record with seq > ``after``; a torn tail is truncated away."""
        for _, seg in self.segments():
            data = memoryview(seg.read_bytes())
            end = 0
            for seq, start, end in _frames(data):
                if seq > after:
                    yield seq, decode(data[start:end])
            if end < len(data):  # a torn record from a crash: never acknowledged
                with open(seg, "r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())

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
    """(seq, payload start, payload end) of each intact record, stopping at the first bad one."""
    pos = 0
    while pos + HEADER.size <= len(data):
        magic, seq, length, crc = HEADER.unpack_from(data, pos)
        start, end = pos + HEADER.size, pos + HEADER.size + length
        if magic != MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
            return
        yield seq, start, end
        pos = end


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
