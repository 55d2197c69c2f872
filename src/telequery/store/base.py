"""The Store protocol: thin engines that run SQL and append rows.

A store does not know what a percentile means; it opens connections, runs SQL with
bound parameters, appends Arrow batches in one transaction, and reports statistics.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from telequery.dialect import Dialect


@dataclass(frozen=True)
class Stats:
    """What a query cost: rows and bytes the engine read, wall time in seconds."""

    rows_read: int
    bytes_read: int
    elapsed: float


# The monotonic time by which the current request must be answered. Set per request by the
# API (a context variable, so it follows the request into worker threads); every statement
# a request runs gets at most what is left, so a view that runs several statements is
# bounded as a whole.
_DEADLINE: ContextVar[float | None] = ContextVar("telequery_deadline", default=None)


@contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Bound every statement run inside to ``seconds`` in total."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


# Read-your-writes: how long a statement may wait for every row acknowledged before it to
# be applied (None: read what is applied, never wait). Each API request sets it; a
# statement outside any (a CLI command, a test reading the store) gets the process default.
_UNSET = object()
_READ_YOUR_WRITES: ContextVar[object] = ContextVar("telequery_ryw", default=_UNSET)
_default_wait: float | None = None


def set_default_read_your_writes(wait: float | None) -> None:
    """The wait of statements run outside ``read_your_writes`` (default: None)."""
    global _default_wait
    _default_wait = wait


@contextmanager
def read_your_writes(wait: float | None) -> Iterator[None]:
    """Statements inside see every row acknowledged before them, waiting up to ``wait``
    seconds for it to be applied (``None``: they read what is applied, never waiting)."""
    token = _READ_YOUR_WRITES.set(wait)
    try:
        yield
    finally:
        _READ_YOUR_WRITES.reset(token)


def barrier_wait() -> float | None:
    """The read-your-writes wait of the statement about to run (None: do not wait)."""
    wait = _READ_YOUR_WRITES.get()
    return _default_wait if wait is _UNSET else wait  # type: ignore[return-value]


def statement_timeout(timeout: float | None) -> float | None:
    """The next statement's timeout: its own, or what is left of the request's deadline if
    that is sooner. Raises ``StatementTimeout`` when the deadline has passed."""
    due = _DEADLINE.get()
    if due is None:
        return timeout
    left = due - time.monotonic()
    if left <= 0:
        raise StatementTimeout("the request ran past its deadline")
    return left if timeout is None else min(timeout, left)


def rows_where(dialect: Dialect, org: str, dataset: str | None, kind: str | None,
               before: datetime | None) -> tuple[str, dict[str, object]]:
    """The WHERE of a delete (retention, the demo's own org): column names are constants,
    every value is bound with the dialect's placeholder."""
    from telequery.schema import Logical

    conds = [("org_id", "org", org, Logical.STRING), ("dataset", "dataset", dataset,
             Logical.STRING), ("kind", "kind", kind, Logical.STRING)]
    parts, params = [], {}

    def holder(name: str, logical: Logical) -> str:
        return dialect.placeholder(name, logical).sql(dialect.sql_dialect)

    for column, name, value, logical in conds:
        if value is not None:
            parts.append(f'"{column}" = {holder(name, logical)}')
            params[name] = value
    if before is not None:
        parts.append(f'"timestamp" < {holder("before", Logical.TIMESTAMP)}')
        params["before"] = dialect.param_value(before, Logical.TIMESTAMP)
    return " AND ".join(parts), params


def describe(e: BaseException) -> str:
    """An error in one line for a status field or a log (its first line, bounded)."""
    text = str(e)
    return text.splitlines()[0][:500] if text.strip() else type(e).__name__


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (a new or renamed file's name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StatementStopped(Exception):
    """The engine stopped a statement at one of its bounds; every API answers ``status``
    with ``code`` in its own envelope, naming the bound in ``reason``."""

    status = 400
    code = "limit_exceeded"

    def __init__(self, reason: str) -> None:
        super().__init__(f"query: {reason}")
        self.field = "query"
        self.reason = reason


class StatementTimeout(StatementStopped):
    """Past its timeout or its request's deadline: 408. ``telequery.query`` exports it as
    ``QueryTimeout``."""

    status = 408
    code = "query_timeout"


class StatementTooLarge(StatementStopped):
    """Past the memory (or spill space) a statement may take: 400 ``limit_exceeded``
    (docs/security.md)."""

    @classmethod
    def past(cls, memory: int, spill: int) -> StatementTooLarge:
        """The refusal naming the bounds (bytes), as every engine words it."""
        return cls(f"the statement needs more than the {memory / (1 << 30):.3g} GiB (memory) "
                   f"and {spill / (1 << 30):.3g} GiB (spill to disk) a statement may take; "
                   "aggregate over fewer groups or a shorter time range")


@dataclass(frozen=True)
class Confined:
    """A statement built around user SQL (``query.sql``). Before it runs, the engine's own
    parser must find exactly one SELECT in which every SELECT that reads the stored table
    has ``org_id = <org>`` among the top-level conjuncts of its WHERE (the compiler's
    subqueries; ``org`` the caller's, bound), other tables only CTEs named
    ``cte_prefix``..., no table function, no settings, only allow-listed functions; it
    then runs where it cannot write or read files. A second line behind ``query.sql``."""

    org: str
    cte_prefix: str


STORED_TABLE = "events"  # the one table rows are stored in


class UnsafeStatement(Exception):
    """The engine's own parser found what ``Confined`` forbids (``query.sql`` answers 400)."""


# Memory a statement may take, and spill space on disk, when the operator does not say
# (``serve --memory-limit`` / ``--spill-limit``): a share of the machine such that three
# heavy statements at once leave the host working (issue 29: one statement took 9.7 GiB).
def default_memory_limit() -> int:
    """Bytes: a fifth of physical memory, at least 256 MiB, at most 8 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 4 << 30
    return max(256 << 20, min(8 << 30, total // 5))


DEFAULT_SPILL_LIMIT = 4 << 30  # bytes a statement (DuckDB: all statements) may spill


def limits(memory_limit: str | None, spill_limit: str | None) -> tuple[int, int]:
    """(memory, spill) bytes from the operator's options or the defaults."""
    return (parse_bytes(memory_limit) if memory_limit else default_memory_limit(),
            parse_bytes(spill_limit) if spill_limit else DEFAULT_SPILL_LIMIT)


def parse_bytes(text: str) -> int:
    """``3GiB``, ``512MB``, ``1g``, ``1000000`` -> bytes; ValueError when it is not one."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)b?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r} (for example 2GiB or 512MB)")
    unit = "kmgt".find(m.group(2).lower()) + 1 if m.group(2) else 0
    base = 1024 if m.group(3) or not m.group(2) else 1000
    return int(float(m.group(1)) * base ** unit)


class StoreUnavailable(Exception):
    """The store cannot answer now: it failed (a full disk, a fatal engine error) and is
    being reopened, or acknowledged rows cannot be applied yet. Every API answers 503 with
    ``Retry-After``; nothing is answered without rows that were acknowledged."""

    def __init__(self, reason: str, retry_after: int = 5) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    stats: Stats


class Store(Protocol):
    dialect: Dialect
    path: Path | None
    # Called before a query that asked for read-your-writes (``read_your_writes``) with
    # the longest wait; the ingest writer sets it so that such a query sees every row
    # acknowledged before it started (None: appends are visible when they return).
    read_barrier: Callable[[float], None] | None

    def append(self, batch: pa.Table) -> int:
        """Append rows in one transaction; return the count once durably committed."""
        ...

    def execute(self, sql: str, params: dict[str, object] | None = None,
                timeout: float | None = None, *,
                confined: Confined | None = None) -> QueryResult:
        """Run one SELECT with bound parameters (``confined``: built around user SQL)."""
        ...

    def delete(self, org: str, *, dataset: str | None = None, kind: str | None = None,
               before: datetime | None = None) -> int:
        """Delete an org's rows (of one dataset, older than ``before``); return how many.
        The only way rows leave a store: retention rules and the demo's own org."""
        ...

    def bytes_on_disk(self) -> int: ...

    def problem(self) -> str | None:
        """Why the store cannot serve right now (reopening it if it can), or None."""
        ...

    def set_query_nice(self, nice: int) -> None:
        """Run queries at CPU priority ``nice`` (0-19), below ingest's (0)."""
        ...

    def close(self) -> None: ...


def is_clickhouse(spec: str) -> bool:
    """Whether a store spec names ClickHouse (``chdb:DIR``, ``clickhouse[s]://``)."""
    return spec.startswith(("chdb:", "clickhouse://", "clickhouses://"))


def open_store(spec: str, data_dir: Path | None = None, *,
               memory_limit: str | None = None, spill_limit: str | None = None) -> Store:
    """Open a store from a spec: a directory (DuckDB), ``chdb:DIR`` or ``clickhouse://``.
    ``memory_limit`` / ``spill_limit``: what statements may take (DuckDB: all at once;
    ClickHouse: each), default ``default_memory_limit()`` / ``DEFAULT_SPILL_LIMIT``."""
    if is_clickhouse(spec):
        from telequery.store.clickhouse import open_clickhouse

        return open_clickhouse(spec, memory_limit=memory_limit, spill_limit=spill_limit)
    from telequery.store.duckdb import DuckDBStore

    # Rows a crashed server acknowledged but had not yet written are in the ingest log:
    # whoever opens the store to read or write it replays them (``ingest.open_recovered``).
    return DuckDBStore(Path(spec.removeprefix("duckdb:")), memory_limit=memory_limit,
                       spill_limit=spill_limit)
