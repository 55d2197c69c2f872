"""The embedded default: one DuckDB file in the data directory.

One connection per process; the writer and every reader thread get their own cursor
(DuckDB connections are not thread-safe, cursors on one database are, with MVCC between
them). Appends are serialised by a lock: one writer, many readers.

A fatal engine error (DuckDB invalidates the database after, e.g., a checkpoint that hit
a full disk) marks the store failed: every call then answers ``StoreUnavailable`` at once,
and the next call at least ``REOPEN_EVERY`` seconds later closes every cursor and opens
the file again (DuckDB replays its own WAL). The ingest log keeps what was acknowledged
meanwhile, and the writer applies it once the store is back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from telequery.dialect import DuckDBDialect
from telequery.schema import (
    COLUMN_NAMES,
    EVENTS,
    MAP_LOGICALS,
    SORT_KEY,
    arrow_schema,
    duckdb_ddl,
    duckdb_type,
    missing_columns,
)
from telequery.schema import (
    conform as conform_batch,
)
from telequery.store import priority
from telequery.store.base import (
    Confined,
    QueryResult,
    StatementTimeout,
    StatementTooLarge,
    Stats,
    StoreUnavailable,
    barrier_wait,
    describe,
    fsync_dir,
    limits,
    rows_where,
    statement_timeout,
)
from telequery.store.confine import check_duckdb

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

DB_FILE = "events.duckdb"
log = logging.getLogger(__name__)
_LIMIT = re.compile(r"[0-9.]+ ?[A-Za-z]+")  # a memory limit such as 3GiB
_MAP_COLUMNS = tuple(c for c in EVENTS if c.logical in MAP_LOGICALS)
_ENTRY_LIST_TYPES = frozenset(duckdb_type(c) for c in _MAP_COLUMNS)
_ARROW = {f.name: f.type for f in arrow_schema()}
REOPEN_EVERY = 1.0  # seconds between attempts to reopen a failed database
QUERY_THREADS = 8  # statements running at once on the query pool (with a query nice)


def _is_fatal(e: BaseException) -> bool:
    """Errors after which DuckDB refuses every further statement on this database."""
    return isinstance(e, (duckdb.FatalException, duckdb.InternalException)) or \
        "database has been invalidated" in str(e)


# DuckDB checkpoints on the commit that takes its WAL past this size. At the default
# (16 MB) steady ingest checkpointed every second or two, each time rewriting the row
# groups it touched: on 10M events an apply of 30k rows took 1.7-3.5 s every third or
# fourth time (mean 1,059 ms); at 256 MB the stalls come every ~9th apply (mean 445 ms).
# The WAL holds only what the ingest log already made durable; a crash replays it.
CHECKPOINT_THRESHOLD = "256MB"


class DuckDBStore:
    dialect = DuckDBDialect()

    def __init__(self, path: Path, *, memory_limit: str | None = None,
                 spill_limit: str | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        memory, spill = limits(memory_limit, spill_limit)
        # DuckDB bounds memory and spill per database, not per statement: every statement
        # at once (and the appends) stay within them, so the host keeps working whatever a
        # request asks (docs/security.md). No file is read or written on a request's
        # behalf: external access is off for the whole database (compaction, the one
        # thing that needs a second file, runs on a connection of its own).
        self._config: dict[str, str] = {
            "checkpoint_threshold": CHECKPOINT_THRESHOLD,
            "memory_limit": f"{max(1, memory >> 10)}KiB",
            "max_temp_directory_size": f"{max(1, spill >> 10)}KiB",
            "enable_external_access": "false",
        }
        self.memory_limit, self.spill_limit = memory, spill
        # a compaction a crash interrupted left its copy behind: it is garbage
        for leftover in (DB_FILE + ".compact", DB_FILE + ".compact.wal"):
            (self.path / leftover).unlink(missing_ok=True)
        if threads:
            self._config["threads"] = str(threads)
        self.read_barrier: Callable[[float], None] | None = None
        self._query_nice = 0
        self._query_pool: ThreadPoolExecutor | None = None
        self._engine_threads: set[int] = set()
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []  # to close them on a reopen
        self._cursor_lock = threading.Lock()
        self._generation = 0
        self._gate = threading.Condition()  # compaction pauses new reads, waits for these
        self._readers = 0
        self._paused = False
        self._last_activity = time.monotonic()  # of a statement or an append (idle trim)
        self._trimmed = True
        self.failure: str | None = None
        self.draining = False  # set at shutdown: statements are refused and interrupted
        self._last_attempt = 0.0
        names = ", ".join(f'"{c}"' for c in COLUMN_NAMES)
        self._insert = f"INSERT INTO events ({names}) SELECT {names} FROM __batch"
        self._connect()

    def _connect(self) -> None:
        before = priority.threads()
        con = duckdb.connect(str(self.path / DB_FILE), config=self._config)
        # DuckDB's own worker threads start with the database: they run query work (and
        # the parallel part of appends), so they take the query priority.
        self._engine_threads = priority.threads() - before
        if self._query_nice:
            priority.lower(self._query_nice, self._engine_threads)
        try:
            con.execute(duckdb_ddl())
            _migrate_maps(con)
            _add_missing_columns(con)
            # the ingest log's high-water mark, committed with the rows it covers
            con.execute("CREATE TABLE IF NOT EXISTS ingest_state "
                        "(id INTEGER PRIMARY KEY, applied_seq BIGINT NOT NULL)")
            con.execute("INSERT OR IGNORE INTO ingest_state VALUES (1, 0)")
        except BaseException:
            con.close()
            raise
        self._con = con
        self._writer = con.cursor()

    # -- failure and recovery -----------------------------------------------------------
    def _failed(self, e: BaseException) -> StoreUnavailable:
        """Record a fatal error; the caller raises what this returns."""
        if self.failure is None:
            log.error("DuckDB failed, reopening it once it can: %s", e)
            self.failure = describe(e)
            self._last_attempt = time.monotonic()
        return StoreUnavailable(f"the store failed and is being reopened: {self.failure}")

    def problem(self) -> str | None:
        """None when the store can serve; otherwise why not (trying a reopen first)."""
        if self.failure is None:
            return None
        now = time.monotonic()
        if now - self._last_attempt < REOPEN_EVERY:
            return self.failure
        with self._write_lock, self._cursor_lock:
            if self.failure is None:
                return None
            self._last_attempt = now
            self._close_connections()
            try:
                self._connect()
            except duckdb.Error as e:
                log.warning("reopening DuckDB failed: %s", e)
                return self.failure
            self._generation += 1
            log.warning("DuckDB reopened after: %s", self.failure)
            self.failure = None
            return None

    def _check(self) -> None:
        if (why := self.problem()) is not None:
            raise StoreUnavailable(f"the store failed and is being reopened: {why}")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """A fatal engine error inside marks the store failed and becomes
        ``StoreUnavailable``; other errors pass through as they are."""
        try:
            yield
        except duckdb.Error as e:
            if _is_fatal(e):
                raise self._failed(e) from e
            raise

    def _close_connections(self) -> None:
        """Close every cursor and the connection (before a reopen or a file swap)."""
        for cur in [*self._cursors, self._writer, self._con]:
            with contextlib.suppress(duckdb.Error):
                cur.close()
        self._cursors.clear()

    # -- writes -------------------------------------------------------------------------
    def append(self, batch: pa.Table, *, mark: int | None = None) -> int:
        """Insert a batch sorted by (org, dataset, time) in one committed transaction.

        ``mark``: the ingest log's sequence number these rows complete, committed in the
        same transaction so that a replay after a crash applies each record once.
        """
        if batch.num_rows == 0 and mark is None:
            return 0
        self._check()
        self._touch()
        with self._write_lock, self._guard():
            w = self._writer
            w.execute("BEGIN TRANSACTION")
            try:
                if batch.num_rows:
                    w.register("__batch", _entry_lists(_sorted(batch)))
                    w.execute(self._insert)
                    w.unregister("__batch")
                if mark is not None:
                    w.execute("UPDATE ingest_state SET applied_seq = $m WHERE id = 1",
                              {"m": mark})
                w.execute("COMMIT")
            except BaseException:
                # the transaction may be gone with the error that ended it
                with contextlib.suppress(duckdb.Error):
                    w.execute("ROLLBACK")
                raise
        return batch.num_rows

    def delete(self, org: str, *, dataset: str | None = None, kind: str | None = None,
               before: datetime | None = None) -> int:
        """Delete an org's rows, bound by value; the space is reused by later writes and
        returned to the file system by ``compact``."""
        where, params = rows_where(self.dialect, org, dataset, kind, before)
        self._check()
        with self._write_lock, self._guard():
            row = self._writer.execute("DELETE FROM events WHERE " + where, params).fetchone()
        return int(row[0]) if row else 0

    def applied_mark(self) -> int:
        """The highest ingest-log sequence number whose rows are committed."""
        self._check()
        with self._write_lock, self._guard():
            return int(self._writer.execute(
                "SELECT applied_seq FROM ingest_state WHERE id = 1").fetchone()[0])

    # -- reads --------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None or self._local.generation != self._generation:
            with self._cursor_lock:
                cur = self._con.cursor()
                self._cursors.append(cur)
            cur.execute("SET enable_profiling = 'no_output'")
            self._local.cursor, self._local.generation = cur, self._generation
        return cur

    def execute(self, sql: str, params: dict[str, object] | None = None,
                timeout: float | None = None, *,
                confined: Confined | None = None) -> QueryResult:
        timeout = statement_timeout(timeout)
        if self.draining:  # writes go on: the writer applies what was acknowledged
            raise StoreUnavailable("the server is shutting down", retry_after=1)
        self._check()
        self._touch()
        wait = barrier_wait()
        if wait is not None and self.read_barrier is not None:
            self.read_barrier(wait)  # see every row acknowledged before this query
        with self._gate:
            while self._paused:
                self._gate.wait()
            self._readers += 1
        try:
            with self._guard():
                if self._query_pool is not None:  # on a thread at the query priority
                    return self._query_pool.submit(self._run, sql, params, timeout,
                                                   confined).result()
                return self._run(sql, params, timeout, confined)
        finally:
            with self._gate:
                self._readers -= 1
                self._gate.notify_all()

    def set_query_nice(self, nice: int) -> None:
        """Run statements (and DuckDB's worker threads) at CPU priority ``nice`` (1-19),
        so ingest gets the larger share of a busy CPU (store/priority.py). 0: one
        priority for all (the default)."""
        priority.checked(nice)
        if self._query_pool is not None:  # set once at start; a second call replaces it
            self._query_pool.shutdown(wait=True)
            self._query_pool = None
        self._query_nice = nice
        if nice:
            priority.lower(nice, self._engine_threads)
            self._query_pool = ThreadPoolExecutor(
                max_workers=QUERY_THREADS, thread_name_prefix="telequery-query",
                initializer=priority.lower, initargs=(nice,))

    def _run(self, sql: str, params: dict[str, object] | None,
             timeout: float | None, confined: Confined | None = None) -> QueryResult:
        cur = self._cursor()
        if confined is not None:
            check_duckdb(cur, sql, params or {}, confined, self.dialect.confined_functions)
        alarm = _WATCHDOG.arm(timeout, cur.interrupt) if timeout else None
        t0 = time.perf_counter()
        try:
            columns, rows = _fetch(cur.execute(sql, params or {}))
        except BaseException as e:
            # a cursor whose statement raised or was interrupted is never used again: the
            # next statement of this thread (any org's) gets a new one
            self._discard_cursor(cur)
            if isinstance(e, duckdb.InterruptException):
                if self.draining:
                    raise StoreUnavailable("the server is shutting down",
                                           retry_after=1) from None
                raise StatementTimeout(f"query took longer than {timeout:.3g} s") from None
            if isinstance(e, duckdb.OutOfMemoryException):
                raise StatementTooLarge.past(self.memory_limit, self.spill_limit) from None
            raise
        finally:
            if alarm is not None:
                _WATCHDOG.disarm(alarm)
        elapsed = time.perf_counter() - t0
        return QueryResult(columns, rows, self._stats(cur, elapsed))

    def _discard_cursor(self, cur: duckdb.DuckDBPyConnection) -> None:
        if getattr(self._local, "cursor", None) is cur:
            self._local.cursor = None
        with self._cursor_lock:
            if cur in self._cursors:
                self._cursors.remove(cur)
        with contextlib.suppress(duckdb.Error):
            cur.close()

    @staticmethod
    def _stats(cur: duckdb.DuckDBPyConnection, elapsed: float) -> Stats:
        try:
            info = json.loads(cur.get_profiling_information())
        except (duckdb.Error, ValueError):
            return Stats(0, 0, elapsed)
        q = info.get("query", {})
        rows = int(q.get("total_rows_scanned", 0) or 0)
        io_bytes = int(info.get("io", {}).get("total_bytes_read", 0) or 0)
        return Stats(rows, io_bytes or _scan_bytes(info.get("operator", [])), elapsed)

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob(DB_FILE + "*"))

    def interrupt_all(self) -> None:
        """Shutting down: stop every running query and refuse new ones; they answer
        ``StoreUnavailable`` (503, retry) instead of running on past SIGTERM. Writes are
        not affected: the writer still applies what was acknowledged."""
        self.draining = True
        with self._cursor_lock:
            for cur in self._cursors:
                with contextlib.suppress(duckdb.Error):
                    cur.interrupt()

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self._trimmed = False

    def trim_if_idle(self, idle_seconds: float) -> bool:
        """Give the buffer pool's memory back after ``idle_seconds`` without a statement or
        an append (once per idle spell): DuckDB keeps what it read cached up to its memory
        limit and never shrinks on its own, so after a burst of load the process would
        stay at its peak. Lowering the limit for a moment evicts the cache (measured on 1M
        events: 956 -> 198 MiB); the next query reads from the file again."""
        if self._trimmed or time.monotonic() - self._last_activity < idle_seconds:
            return False
        limit = self._config.get("memory_limit")  # the operator's --memory-limit, or none
        if self.failure is not None or (limit is not None and not _LIMIT.fullmatch(limit)):
            return False
        with self._exclusive():
            try:
                w = self._writer
                w.execute("SET memory_limit = '64MB'")
                if limit is None:
                    w.execute("RESET memory_limit")
                else:  # the operator's setting (checked above), never a request value
                    w.execute(f"SET memory_limit = '{limit}'")
                self._trimmed = True
            except duckdb.Error as e:
                log.warning("could not trim DuckDB's memory: %s", e)
        return self._trimmed

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The database to itself: writes wait on the write lock, new reads at the gate,
        reads in flight finish first (compaction, memory trim)."""
        with self._write_lock:
            with self._gate:
                self._paused = True
                while self._readers:
                    self._gate.wait()
            try:
                yield
            finally:
                with self._gate:
                    self._paused = False
                    self._gate.notify_all()

    def compact(self) -> tuple[int, int]:
        """Rewrite the file without the space deleted rows left behind; (bytes before,
        after). DuckDB reuses freed blocks but does not give them back to the file
        system, so after a retention sweep the database is copied into a new file
        (``COPY FROM DATABASE``) that replaces the old one. Writes wait on the write lock
        and new reads on a gate for the copy's duration; reads in flight finish first."""
        before = self.bytes_on_disk()
        self._check()
        tmp = self.path / (DB_FILE + ".compact")
        tmp.unlink(missing_ok=True)
        with self._exclusive(), self._cursor_lock:
            self._swap_compacted(tmp)
        return before, self.bytes_on_disk()

    def _swap_compacted(self, tmp: Path) -> None:
        """The copy needs a second file, which the store's own connection cannot open
        (external access is off): every connection is closed, one of its own (no request
        ever reaches it) copies, and the store reconnects."""
        self._writer.execute("CHECKPOINT")
        self._close_connections()
        self._generation += 1
        try:
            config = {k: v for k, v in self._config.items() if k != "enable_external_access"}
            copier = duckdb.connect(str(self.path / DB_FILE), config=config)
            try:
                name = copier.execute("SELECT current_database()").fetchone()[0]
                path = str(tmp).replace("'", "''")  # our own file name, not a request value
                copier.execute(f"ATTACH '{path}' AS __compact")
                try:
                    copier.execute(f'COPY FROM DATABASE "{name}" TO __compact')
                finally:
                    copier.execute("DETACH __compact")
            finally:
                copier.close()
            os.replace(tmp, self.path / DB_FILE)
            (self.path / (DB_FILE + ".wal")).unlink(missing_ok=True)  # checkpointed above
            fsync_dir(self.path)
        finally:
            tmp.unlink(missing_ok=True)
            try:
                self._connect()
            except duckdb.Error as e:
                self._failed(e)

    def checkpoint(self) -> None:
        self._check()
        with self._write_lock, self._guard():
            self._writer.execute("CHECKPOINT")

    def close(self) -> None:
        if self._query_pool is not None:
            self._query_pool.shutdown(wait=True)
        with contextlib.suppress(duckdb.Error):  # a failed database has nothing to flush
            self._con.close()


_BATCH_DB: duckdb.DuckDBPyConnection | None = None
_BATCH_LOCK = threading.Lock()


def select_from_batch(batch: pa.Table, sql: str, params: dict[str, object]) -> QueryResult:
    """Run one compiled SELECT over an Arrow batch of events rows instead of the table (live
    tail: the rows a writer just acknowledged), in an in-memory database, with the store's
    own map layout, so the answer is what the same query on the table would give. One
    connection is kept: opening an in-memory DuckDB costs ~16 ms, the query itself ~1 ms."""
    global _BATCH_DB
    with _BATCH_LOCK:
        if _BATCH_DB is None:
            _BATCH_DB = duckdb.connect(config={"threads": "1",
                                               "enable_external_access": "false"})
        con = _BATCH_DB
        t0 = time.perf_counter()
        con.register("events", _entry_lists(conform_batch(batch)))
        try:
            columns, rows = _fetch(con.execute(sql, params))
        finally:
            con.unregister("events")
    return QueryResult(columns, rows, Stats(batch.num_rows, 0, time.perf_counter() - t0))


_SORT = [(k, "ascending") for k in SORT_KEY]


def _sorted(batch: pa.Table) -> pa.Table:
    """Rows in (org, dataset, time) order, so zone maps prune on all three. Sorting in Arrow
    and inserting in that order costs ~20% less CPU than an ORDER BY in the INSERT (which
    also makes DuckDB's insert run on one thread)."""
    return batch.take(pc.sort_indices(batch, _SORT))


def _entry_lists(batch: pa.Table) -> pa.Table:
    """Arrow map columns as the table's entry lists, struct<k: list, v: list> (zero-copy:
    both lists share the map's offsets; a map's offsets index its whole child arrays, so
    sliced chunks stay right)."""
    for c in _MAP_COLUMNS:
        i = batch.schema.get_field_index(c.name)
        t = batch.schema.field(i).type
        entries = pa.struct([("k", pa.list_(t.key_type)), ("v", pa.list_(t.item_type))])
        chunks = [pa.StructArray.from_arrays([pa.ListArray.from_arrays(m.offsets, m.keys),
                                              pa.ListArray.from_arrays(m.offsets, m.items)],
                                             names=["k", "v"]) for m in batch.column(i).chunks]
        batch = batch.set_column(i, c.name, pa.chunked_array(chunks, entries))
    return batch


def maps_from_entry_lists(batch: pa.Table) -> pa.Table:
    """The inverse of ``_entry_lists``, for readers of the table's Arrow (``migrate``);
    map columns that are maps already (a file from before entry lists) pass through."""
    for c in _MAP_COLUMNS:
        i = batch.schema.get_field_index(c.name)
        if not pa.types.is_struct(batch.schema.field(i).type):
            continue
        chunks = []
        for e in batch.column(i).chunks:
            k, v = e.field("k"), e.field("v")
            chunks.append(pa.MapArray.from_arrays(k.offsets, k.values, v.values,
                                                  mask=e.is_null() if e.null_count else None))
        batch = batch.set_column(i, c.name, pa.chunked_array(chunks, _ARROW[c.name]))
    return batch


def _fetch(rel: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple]]:
    """Column names and rows of an executed statement, entry-list columns as dicts."""
    rows = rel.fetchall()
    description = rel.description or []
    maps = [i for i, d in enumerate(description) if str(d[1]) in _ENTRY_LIST_TYPES]
    if maps and rows:
        rows = _as_dicts(rows, maps)
    return [d[0] for d in description], rows


def _as_dicts(rows: list[tuple], maps: list[int]) -> list[tuple]:
    """Result rows with entry-list columns turned back into dicts (what a map reads as)."""
    out = []
    for row in rows:
        r = list(row)
        for i in maps:
            e = r[i]
            r[i] = None if e is None else dict(zip(e["k"] or (), e["v"] or (), strict=True))
        out.append(tuple(r))
    return out


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Add the columns ``schema.EVENTS`` gained since this data directory was created
    (they read as null / empty in older rows)."""
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'events'").fetchall()}
    for c in missing_columns(have):
        log.warning("adding column %s to events (once per data directory)", c.name)
        con.execute(f'ALTER TABLE events ADD COLUMN "{c.name}" {duckdb_type(c)}')


def _migrate_maps(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite attribute columns a previous version stored as MAP into entry lists."""
    have = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_name = 'events'").fetchall())
    for c in _MAP_COLUMNS:
        if have.get(c.name, "").startswith("MAP("):
            log.warning("rewriting column %s as entry lists (once per data directory; "
                        "about a minute per 10M events)", c.name)
            con.execute(f'ALTER TABLE events ALTER COLUMN "{c.name}" SET DATA TYPE '
                        f"{duckdb_type(c)} USING {{'k': map_keys(\"{c.name}\"), "
                        f"'v': map_values(\"{c.name}\")}}")


class _Watchdog:
    """One thread that interrupts queries past their deadline.

    Why not a ``threading.Timer`` per query: starting a thread cost ~2 ms per statement on
    a busy 2-core machine, a tenth of a small query's latency.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._due: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    def arm(self, timeout: float, action: Callable[[], None]) -> int:
        with self._cv:
            self._next += 1
            self._due[self._next] = (time.monotonic() + timeout, action)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="duckdb-watchdog",
                                                daemon=True)
                self._thread.start()
            self._cv.notify()
            return self._next

    def disarm(self, token: int) -> None:
        with self._cv:
            self._due.pop(token, None)

    def _loop(self) -> None:
        with self._cv:
            while True:
                now = time.monotonic()
                for token, (due, action) in list(self._due.items()):
                    if due <= now:
                        del self._due[token]
                        action()
                soonest = min((d for d, _ in self._due.values()), default=None)
                self._cv.wait(None if soonest is None else max(0.0, soonest - now))


_WATCHDOG = _Watchdog()


def _scan_bytes(nodes: list[dict]) -> int:
    """Bytes produced by table scans (used when the file was served from the cache)."""
    total = 0
    for n in nodes:
        if n.get("type") == "TABLE_SCAN":
            total += int(n.get("intermediate_size_bytes", 0) or 0)
        total += _scan_bytes(n.get("children", []))
    return total
