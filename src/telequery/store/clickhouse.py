"""ClickHouse store: the same ``events`` table and IR, on chDB (in-process) or a server.

Two transports behind one store class:
- ``chdb:DIR``: the ClickHouse engine as a library, data in DIR. chDB hosts one embedded
  server per process, so every ``chdb:`` store of a process shares one directory; opening
  another directory while a store on the first is still open raises ``ClickHouseError``.
  Statements run on a pool of connections to it, in parallel.
- ``clickhouse://user:pass@host:8123/db?cluster=NAME&retention_days=30``: a server or
  cluster over HTTP with ``clickhouse-connect`` (``clickhouses://`` for TLS).

The store stays thin: it creates/migrates the schema, appends Arrow batches (acknowledged
once the part is committed, see ``INSERT_SETTINGS``), runs SQL with server-side bound
parameters and converts results to the same Python values the DuckDB store returns
(naive UTC datetimes, floats, ints, dicts for maps, None for NULL).
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import parse_qs, unquote, urlparse

import pyarrow as pa

from telequery.dialect import ClickHouseDialect
from telequery.schema import conform, missing_columns
from telequery.store import priority
from telequery.store.base import (
    Confined,
    QueryResult,
    StatementTimeout,
    StatementTooLarge,
    Stats,
    StoreUnavailable,
    UnsafeStatement,
    barrier_wait,
    limits,
    rows_where,
    statement_timeout,
)
from telequery.store.clickhouse_ddl import (
    VERSION_TABLE,
    Layout,
    add_column_ddl,
    migrations,
    quote,
    ttl_ddl,
    version_ddl,
)
from telequery.store.confine import check_clickhouse_ast

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# Settings on every SELECT, so ClickHouse answers like DuckDB (SQL semantics):
# - join_use_nulls: unmatched outer-join columns are NULL, not the type's default;
# - distributed_product_mode: a JOIN/IN whose subquery reads the Distributed table runs as
#   GLOBAL (on a cluster the timeseries top-N join reads ``events`` twice).
# - prefer_column_name_to_alias: in a derived relation ``min(timestamp) AS timestamp``
#   must not capture ``timestamp`` in its own WHERE (ClickHouse aliases are query-wide);
QUERY_SETTINGS: dict[str, object] = {
    "join_use_nulls": 1,
    "prefer_column_name_to_alias": 1,
    "distributed_product_mode": "global",
}

# Settings on every INSERT: synchronous (the INSERT returns once the part is written), and
# on a replicated table a majority of replicas must have it before the INSERT returns.
INSERT_SETTINGS: dict[str, object] = {"async_insert": 0}
CLUSTER_INSERT_SETTINGS: dict[str, object] = {
    "insert_quorum": "auto",
    "insert_quorum_parallel": 1,
    "insert_distributed_sync": 1,
}
TIMEOUT_CODE = 159  # TIMEOUT_EXCEEDED
# MEMORY_LIMIT_EXCEEDED; TOO_MANY_ROWS_OR_BYTES (the spill limit)
TOO_LARGE_CODES = ("Code: 241.", "Code: 396.")


def _raise_limit(e: Exception, settings: dict[str, object]) -> None:
    """A statement stopped at its deadline or its memory / spill bound, as the API's 4xx."""
    text = str(e)
    if f"Code: {TIMEOUT_CODE}." in text:
        raise StatementTimeout(f"query took longer than "
                               f"{settings.get('max_execution_time')} s") from None
    if any(code in text for code in TOO_LARGE_CODES):
        memory = int(settings.get("max_memory_usage", 0) or 0)  # type: ignore[call-overload]
        spill = int(settings.get("max_temporary_data_on_disk_size_for_query", 0) or 0)  # type: ignore[call-overload]
        raise StatementTooLarge.past(memory, spill) from None


class ClickHouseError(RuntimeError):
    """A ClickHouse store cannot be opened or used as configured."""


class Transport(Protocol):
    """How SQL reaches ClickHouse: in-process chDB or HTTP."""

    def command(self, sql: str) -> None: ...

    def select(self, sql: str, params: dict[str, object], settings: dict[str, object],
               *, write: bool = False) -> tuple[list[str], list[tuple], Stats]:
        """Run one statement; a read (``write=False``) can change nothing: on chDB it runs
        on a connection at ``readonly = 2``."""
        ...

    def insert(self, table: str, batch: pa.Table, settings: dict[str, object]) -> None: ...

    def close(self) -> None: ...


# -- chDB ---------------------------------------------------------------------------------
class _Embedded:
    """The process-wide chDB engine: one data directory per process (chDB's rule), so
    opening another while a store on the first is open is refused with a clear error."""

    lock = threading.Lock()
    path: str | None = None
    users: ClassVar[weakref.WeakSet[ChdbTransport]] = weakref.WeakSet()

    @classmethod
    def acquire(cls, user: ChdbTransport, path: str) -> None:
        with cls.lock:
            if cls.path is not None and cls.path != path and any(not u.closed
                                                                 for u in cls.users):
                raise ClickHouseError(
                    f"chDB already serves {cls.path} in this process; close that store "
                    f"before opening {path} (one chDB data directory per process)")
            cls.path = path
            cls.users.add(user)

    @classmethod
    def release(cls, user: ChdbTransport) -> None:
        with cls.lock:
            cls.users.discard(user)
            if not any(not u.closed for u in cls.users):
                cls.path = None


class ChdbTransport:
    """In-process ClickHouse. Every statement takes a connection of its own from a pool:
    chDB (>= 4) runs statements on separate connections of one engine in parallel, so a
    query never waits for another query, nor an insert for a query (with one shared
    connection the group-commit insert queued behind every dashboard query, and ingest
    under query load fell to 1% of its rate). A connection runs one statement at a time
    (a streaming insert holds it until finished).

    Reads and writes have pools of their own: a read connection is set ``readonly = 2``
    when it opens (no write, no DDL, ``readonly`` cannot be lowered; chDB runs every
    statement of a text, so a per-query setting would not cover a stacked one). A
    connection whose statement raised (a timeout included) is closed, never pooled: chDB
    kept an interrupted statement's result on it, and the next statement, of any org,
    read that instead of its own (issue 29)."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.closed = False
        self._url = str(path.resolve())
        _Embedded.acquire(self, self._url)
        self._open = session.Session
        self._pool_lock = threading.Lock()
        self._idle: dict[bool, list[Any]] = {False: [], True: []}  # write? -> connections
        self._idle[True].append(self._open(self._url))  # opens the engine: errors show here

    @contextmanager
    def _connection(self, write: bool) -> Iterator[Any]:
        idle = self._idle[write]
        with self._pool_lock:
            if self.closed:
                raise ClickHouseError("the chDB store is closed")
            conn = idle.pop() if idle else None
        if conn is None:
            conn = self._open(self._url)
            if not write:
                conn.query("SET readonly = 2", "Null")
        done = False
        try:
            yield conn
            done = True
        finally:
            with self._pool_lock:
                keep = done and not self.closed
                if keep:
                    idle.append(conn)
            if not keep:
                conn.close()

    def command(self, sql: str) -> None:
        with self._connection(True) as conn:
            conn.query(sql, "Null")

    def select(self, sql: str, params: dict[str, object], settings: dict[str, object],
               *, write: bool = False) -> tuple[list[str], list[tuple], Stats]:
        text = sql + _settings_clause(settings)
        t0 = time.perf_counter()
        try:
            with self._connection(write) as conn:
                res = conn.query(text, "ArrowStream",
                                 params={k: _param_text(v) for k, v in params.items()})
                data = res.bytes()  # read before the connection serves another statement
                stats = Stats(int(res.storage_rows_read()), int(res.storage_bytes_read()),
                              float(res.elapsed()))
        except Exception as e:  # chdb raises ChdbError/RuntimeError with the server text
            _raise_limit(e, settings)
            raise
        if not stats.elapsed:
            stats = Stats(stats.rows_read, stats.bytes_read, time.perf_counter() - t0)
        table = pa.ipc.open_stream(data).read_all() if data else pa.table({})
        return table.column_names, arrow_rows(table), stats

    def insert(self, table: str, batch: pa.Table, settings: dict[str, object]) -> None:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, batch.schema) as w:
            w.write_table(batch)
        cols = ", ".join(quote(c) for c in batch.column_names)
        with self._connection(True) as conn, conn.send_insert(
                f"INSERT INTO {table} ({cols}){_settings_clause(settings)}",
                "ArrowStream") as ins:
            ins.append(sink.getvalue())
            ins.finish()

    def close(self) -> None:
        with self._pool_lock:
            if self.closed:
                return
            self.closed = True
            idle = self._idle[False] + self._idle[True]
            self._idle = {False: [], True: []}
        for conn in idle:  # a connection in use is closed when its statement returns
            conn.close()
        _Embedded.release(self)


# -- HTTP ---------------------------------------------------------------------------------
class HttpTransport:
    def __init__(self, url: str, database: str) -> None:
        import clickhouse_connect

        u = urlparse(url)
        self._client = clickhouse_connect.get_client(
            host=u.hostname or "localhost", port=u.port or (8443 if u.scheme.endswith("s")
                                                            else 8123),
            username=unquote(u.username or "default"), password=unquote(u.password or ""),
            secure=u.scheme == "clickhouses", database=database,
            autogenerate_session_id=False)
        self._lock = threading.Lock()
        self.closed = False

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def select(self, sql: str, params: dict[str, object], settings: dict[str, object],
               *, write: bool = False) -> tuple[list[str], list[tuple], Stats]:
        from clickhouse_connect.driver.exceptions import DatabaseError

        t0 = time.perf_counter()
        if not write:  # one statement per HTTP request; this one can change nothing
            settings = {"readonly": 2, **settings}
        try:
            res = self._client.query(sql, parameters=params, settings=settings)
        except DatabaseError as e:
            _raise_limit(e, settings)
            raise
        elapsed = time.perf_counter() - t0
        summary = res.summary or {}
        rows = [tuple(normalize(v) for v in r) for r in res.result_rows]
        stats = Stats(int(summary.get("read_rows", 0) or 0),
                      int(summary.get("read_bytes", 0) or 0),
                      int(summary.get("elapsed_ns", 0) or 0) / 1e9 or elapsed)
        return list(res.column_names), rows, stats

    def insert(self, table: str, batch: pa.Table, settings: dict[str, object]) -> None:
        self._client.insert_arrow(table, batch, settings=settings)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._client.close()


# -- values -------------------------------------------------------------------------------
def _setting(v: object) -> str:
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(int(v) if isinstance(v, bool) else v)


def _settings_clause(settings: dict[str, object]) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {_setting(v)}" for k, v in settings.items())


def _param_text(v: object) -> object:
    """A parameter value in ClickHouse's escaped text format, as chDB expects it.

    chDB unescapes parameter values (``\\t`` becomes a tab, ``\\\\`` one backslash), so a
    regex like ``\\bword\\b`` must arrive with its backslashes doubled. Bool is true/false.
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v.translate(_ESCAPES)
    return v


# ClickHouse's escaped (TSV) text format: a raw tab or newline ends the value.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                          "\0": "\\0", "\b": "\\b", "\f": "\\f"})


def normalize(v: object) -> object:
    """A ClickHouse value as DuckDB's Python client returns it."""
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    if isinstance(v, list):
        return [normalize(x) for x in v]
    return v


def arrow_rows(table: pa.Table) -> list[tuple]:
    """Rows of an Arrow table as tuples of normalized Python values."""
    cols = []
    for column in table.columns:
        t = column.type
        values = column.to_pylist()
        if pa.types.is_map(t):
            values = [None if v is None else {k: normalize(x) for k, x in v} for v in values]
        elif pa.types.is_timestamp(t) or pa.types.is_list(t) or \
                pa.types.is_dictionary(t):
            values = [normalize(v) for v in values]
        cols.append(values)
    return list(zip(*cols, strict=True)) if cols else []


# -- the store ----------------------------------------------------------------------------
class ClickHouseStore:
    """``events`` on ClickHouse; same protocol and answers as ``DuckDBStore``."""

    dialect = ClickHouseDialect()

    def __init__(self, transport: Transport, layout: Layout, path: Path | None = None, *,
                 memory_limit: str | None = None, spill_limit: str | None = None) -> None:
        self.transport = transport
        self.layout = layout
        self.path = path
        self._write_lock = threading.Lock()
        self.read_barrier: Callable[[float], None] | None = None
        self.write_failure: str | None = None
        self._insert_settings = dict(INSERT_SETTINGS)
        # Every statement's memory and spill are bounded (a group-by or sort past half the
        # memory spills, up to the spill bound); past them it stops, answered as a 400.
        memory, spill = limits(memory_limit, spill_limit)
        self._limits: dict[str, object] = {
            "max_memory_usage": memory,
            "max_bytes_before_external_group_by": memory // 2,
            "max_bytes_before_external_sort": memory // 2,
            "max_temporary_data_on_disk_size_for_query": spill,
        }
        self._query_settings = {**QUERY_SETTINGS, **self._limits}
        self._last_activity = time.monotonic()  # of a statement or an insert (idle trim)
        self._trimmed = True
        if layout.cluster:
            self._insert_settings.update(CLUSTER_INSERT_SETTINGS)
        self.applied = migrate_schema(transport, layout)

    def append(self, batch: pa.Table) -> int:
        """Insert one batch; returns after ClickHouse has committed (and fsynced) the part.

        chDB reports success for an insert whose part it could not write (a full disk),
        so on chDB the active rows are counted before and after the insert (merges keep
        that sum; only this writer adds rows) and a shortfall raises ``StoreUnavailable``:
        the batch is not acknowledged, and the client retries it.
        """
        if batch.num_rows == 0:
            return 0
        batch = conform(batch)
        self._touch()
        verify = isinstance(self.transport, ChdbTransport)
        with self._write_lock:
            before = self._active_rows() if verify else 0
            self.transport.insert(self.layout.qualified("events"), batch,
                                  self._insert_settings)
            if verify:
                stored = self._active_rows() - before
                if stored != batch.num_rows:
                    self.write_failure = (f"an insert of {batch.num_rows:,} rows stored "
                                          f"{stored:,} (is the disk full?)")
                    raise StoreUnavailable(f"the rows could not be stored: "
                                           f"{self.write_failure}")
                self.write_failure = None
        return batch.num_rows

    def delete(self, org: str, *, dataset: str | None = None, kind: str | None = None,
               before: datetime | None = None) -> int:
        """Delete an org's rows with a synchronous mutation (the parts are rewritten, so
        the space is returned when it finishes); values are bound server-side."""
        cond, params = rows_where(self.dialect, org, dataset, kind, before)
        table = self.layout.qualified(self.layout.local_table)
        with self._write_lock:
            _, rows, _ = self.transport.select(
                f"SELECT count() FROM {self.layout.qualified('events')} WHERE {cond}",
                params, {})
            n = int(rows[0][0] or 0)
            if n:
                self.transport.select(
                    f"ALTER TABLE {table}{self.layout.on_cluster()} DELETE WHERE {cond}",
                    params, {"mutations_sync": 2}, write=True)
        return n

    def _active_rows(self) -> int:
        _, rows, _ = self.transport.select(
            "SELECT sum(rows) FROM system.parts WHERE active AND database = {db:String} "
            "AND table = {t:String}", {"db": self.layout.database, "t": self.layout.local_table},
            {})
        return int(rows[0][0] or 0)

    def problem(self) -> str | None:
        """The last insert's failure, until one succeeds; None when writes work."""
        return self.write_failure

    def set_query_nice(self, nice: int) -> None:
        """Run queries' threads at Linux nice ``nice`` (1-19; 0: as ingest), so inserts get
        the larger share of a busy CPU. ClickHouse's own ``os_thread_priority`` setting
        on every query (not on the insert and its checks): the engine sets it on the
        threads executing the query and restores them after. It needs ``CAP_SYS_NICE``
        in the ClickHouse process (chDB: this one, checked; a server: its own)."""
        if priority.checked(nice) and isinstance(self.transport, ChdbTransport) and \
                not priority.can_raise_others():
            raise ValueError("chDB applies a query priority (ClickHouse's os_thread_priority) "
                             "only with CAP_SYS_NICE, which this process lacks")
        self._query_settings = {**QUERY_SETTINGS, **self._limits,
                                **({"os_thread_priority": nice} if nice else {})}

    def execute(self, sql: str, params: dict[str, object] | None = None,
                timeout: float | None = None, *,
                confined: Confined | None = None) -> QueryResult:
        settings = dict(self._query_settings)
        timeout = statement_timeout(timeout)
        self._touch()
        wait = barrier_wait()
        if wait is not None and self.read_barrier is not None:
            self.read_barrier(wait)  # see every row acknowledged before this query
        if timeout:
            settings["max_execution_time"] = max(1, round(timeout))
            settings["timeout_overflow_mode"] = "throw"
        if confined is not None:
            self._check_confined(sql, params or {}, confined, settings)
        columns, rows, stats = self.transport.select(sql, params or {}, settings)
        return QueryResult(columns, rows, stats)

    def _check_confined(self, sql: str, params: dict[str, object], confined: Confined,
                        settings: dict[str, object]) -> None:
        """ClickHouse's own parser on a statement built around user SQL (``Confined``):
        one statement (``formatQuerySingleLine`` refuses several; chDB would run each), a
        SELECT in which every SELECT reading the stored table filters it to the org, other
        tables only CTEs, no SETTINGS, and only allow-listed functions: table functions
        are functions in its AST, and its scalar ``file()`` reads files even at
        ``readonly`` (issue 29)."""
        try:
            self.transport.select("SELECT formatQuerySingleLine({q:String})", {"q": sql},
                                  settings)
            # parsed without the SETTINGS clause appended to a statement (it would show)
            _, lines, _ = self.transport.select("EXPLAIN AST " + sql, params, {})
        except (StatementTimeout, StoreUnavailable):
            raise
        except Exception:
            raise UnsafeStatement("ClickHouse does not parse it as one statement") from None
        check_clickhouse_ast([str(line[0]) for line in lines], confined,
                             self.dialect.confined_functions, _setting(confined.org))

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self._trimmed = False

    def trim_if_idle(self, idle_seconds: float) -> bool:
        """chDB: give the memory the engine's allocator kept after a burst back to the
        system (``SYSTEM JEMALLOC PURGE``; measured after a 3M-group aggregate: 410 -> 267
        MiB), once per idle spell of ``idle_seconds``. A server manages its own memory."""
        if self._trimmed or not isinstance(self.transport, ChdbTransport) or \
                time.monotonic() - self._last_activity < idle_seconds:
            return False
        self.transport.command("SYSTEM JEMALLOC PURGE")
        self._trimmed = True
        return True

    def bytes_on_disk(self) -> int:
        res = self.execute(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND "
            "database = {db:String} AND table = {t:String}",
            {"db": self.layout.database, "t": self.layout.local_table})
        return int(res.rows[0][0] or 0)

    def schema_version(self) -> int:
        res = self.execute(f"SELECT max(version) FROM {self.layout.qualified(VERSION_TABLE)}")
        return int(res.rows[0][0] or 0)

    def close(self) -> None:
        self.transport.close()


def migrate_schema(transport: Transport, layout: Layout) -> list[int]:
    """Create or upgrade the schema; returns the versions applied now (empty if current)."""
    if layout.database != "default":
        transport.command(f"CREATE DATABASE IF NOT EXISTS {quote(layout.database)}"
                          f"{layout.on_cluster()}")
    transport.command(version_ddl(layout))
    vt = layout.qualified(VERSION_TABLE)
    _, rows, _ = transport.select(f"SELECT max(version) FROM {vt}", {}, {})
    current = int(rows[0][0] or 0)
    applied = []
    for version, description, statements in migrations(layout):
        if version <= current:
            continue
        for sql in statements:
            transport.command(sql)
        _record(transport, vt, version, description)
        applied.append(version)
        current = version
    # Columns added to schema.EVENTS since: additive, so applied on start without a number.
    _, rows, _ = transport.select(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
        {"db": layout.database, "t": layout.local_table}, {})
    added = missing_columns({r[0] for r in rows})
    if added:
        for column in added:
            for sql in add_column_ddl(layout, column):
                transport.command(sql)
        current += 1
        _record(transport, vt, current, "add columns " + ", ".join(c.name for c in added))
        applied.append(current)
    _, rows, _ = transport.select(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND "
        "name = {t:String}", {"db": layout.database, "t": layout.local_table}, {})
    engine_full = str(rows[0][0]) if rows else ""
    want = layout.retention_days > 0
    if (want and f"toIntervalDay({layout.retention_days})" not in engine_full) or \
            (not want and " TTL " in engine_full):
        transport.command(ttl_ddl(layout))
    return applied


def _record(transport: Transport, table: str, version: int, description: str) -> None:
    transport.insert(table, pa.table({"version": pa.array([version], pa.uint32()),
                                      "description": [description]}), {})


def open_clickhouse(spec: str, *, cluster: str | None = None,
                    retention_days: int | None = None, memory_limit: str | None = None,
                    spill_limit: str | None = None) -> ClickHouseStore:
    """Open ``chdb:DIR`` or ``clickhouse[s]://user:pass@host:port/db?cluster=..&..``.

    URL query options: ``cluster`` (ON CLUSTER DDL, Replicated + Distributed tables),
    ``retention_days`` (TTL, 0 = forever), ``fsync`` (1/0, default 1).
    """
    if spec.startswith("chdb:"):
        path = Path(spec.removeprefix("chdb:"))
        layout = Layout(retention_days=retention_days or 0)
        return ClickHouseStore(ChdbTransport(path), layout, path, memory_limit=memory_limit,
                               spill_limit=spill_limit)
    u = urlparse(spec)
    if u.scheme not in ("clickhouse", "clickhouses"):
        raise ClickHouseError(f"not a ClickHouse store spec: {spec!r}")
    opts = {k: v[-1] for k, v in parse_qs(u.query).items()}
    database = u.path.strip("/") or "default"
    layout = Layout(database=database, cluster=cluster or opts.get("cluster") or None,
                    retention_days=int(retention_days if retention_days is not None
                                       else opts.get("retention_days", 0)),
                    fsync=opts.get("fsync", "1") not in ("0", "false"))
    # Connect to the server's default database: ours may not exist yet.
    transport = HttpTransport(spec.split("?", 1)[0], "default")
    return ClickHouseStore(transport, layout, None, memory_limit=memory_limit,
                           spill_limit=spill_limit)
