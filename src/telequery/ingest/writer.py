"""Group commit: one writer thread turns concurrent requests into few transactions.

A request hands its Arrow table to ``submit`` and waits on the returned future; the
writer takes everything queued (up to ``max_batch_rows``), appends it in one
transaction, and only then resolves the futures, so an acknowledgement always means the
rows are committed. The queue is bounded in rows: past ``max_pending_rows`` ``submit``
raises ``Overloaded`` and the API answers 429 with Retry-After instead of dropping data.
If a combined transaction fails, each request is retried on its own, so one bad batch
cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from telequery.ingest.log import APPLY_ROWS, LOG_DIR, IngestLog, keeps_log, recover
from telequery.schema import conform
from telequery.store.base import StoreUnavailable, describe, statement_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from telequery.store.base import Store


log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The write queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("ingest queue is full")
        self.retry_after = retry_after


class Writer:
    def __init__(self, store: Store, *, max_pending_rows: int = 1_000_000,
                 max_batch_rows: int = 250_000) -> None:
        self.store = store
        self.max_pending_rows = max_pending_rows
        self.max_batch_rows = max_batch_rows
        self._queue: deque[tuple[pa.Table, Future[int]]] = deque()
        self._pending_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self.commits = 0
        self.write_error: str | None = None  # the last commit's failure, until one succeeds
        # Called in the writer thread with every table once it is acknowledged (live tail);
        # a tap must be quick and must not raise.
        self.taps: list[Callable[[pa.Table], None]] = []
        # Called in the writer thread with each group's tables *before* they are
        # acknowledged (destinations spool them); raising OSError fails the group.
        self.outboxes: list[Callable[[list[pa.Table]], None]] = []
        # org -> wall-clock time (epoch s) its rows were last acknowledged, and the
        # acknowledgement time of its newest rows queries read without waiting (applied):
        # Reports' freshness_lag_ms. Without an ingest log the two are one.
        self.acked_at: dict[str, float] = {}
        self.applied_at: dict[str, float] = self.acked_at
        # counters for /metrics (read without a lock: a scrape may be one batch behind)
        self.acked_rows = self.acked_bytes = self.applied_rows = self.rejected_batches = 0
        self._thread = threading.Thread(target=self._loop, name="telequery-writer",
                                        daemon=True)
        self._thread.start()

    def submit(self, table: pa.Table) -> Future[int]:
        """Queue rows; the future resolves to the row count once they are committed."""
        fut: Future[int] = Future()
        if table.num_rows == 0:
            fut.set_result(0)
            return fut
        with self._cond:
            if self._closed:
                raise RuntimeError("writer is closed")
            if self._backlog() + table.num_rows > self.max_pending_rows and self._backlog():
                self.rejected_batches += 1
                raise Overloaded()
            self._queue.append((table, fut))
            self._pending_rows += table.num_rows
            self._cond.notify()
        return fut

    async def write(self, table: pa.Table) -> int:
        return await asyncio.wrap_future(self.submit(table))

    def _take(self) -> list[tuple[pa.Table, Future[int]]]:
        """The next group to commit: everything queued, up to ``max_batch_rows``.

        A request whose future was cancelled (its client went away before the commit
        started) is left out; its rows were never acknowledged. The rest are marked
        running, so they can no longer be cancelled and always get an answer.
        """
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            group: list[tuple[pa.Table, Future[int]]] = []
            rows = 0
            while self._queue and (not group or rows + self._queue[0][0].num_rows
                                   <= self.max_batch_rows):
                item = self._queue.popleft()
                if not item[1].set_running_or_notify_cancel():
                    self._pending_rows -= item[0].num_rows
                    continue
                group.append(item)
                rows += item[0].num_rows
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if not group:
                with self._cond:
                    if self._closed and not self._queue:
                        return
                continue
            try:
                self._commit(group)
            except BaseException as e:  # never let the thread die with requests waiting
                for _, fut in group:
                    if not fut.done():
                        fut.set_exception(e if isinstance(e, Exception)
                                          else RuntimeError("write failed"))
            finally:
                with self._cond:
                    self._pending_rows -= sum(t.num_rows for t, _ in group)

    def _outbox(self, tables: list[pa.Table]) -> None:
        for outbox in self.outboxes:
            outbox(tables)

    def _commit(self, group: list[tuple[pa.Table, Future[int]]]) -> None:
        try:
            table = pa.concat_tables([t for t, _ in group]) if len(group) > 1 else group[0][0]
            self.store.append(table)
            # after the append (a group whose append fails is retried item by item, and
            # must not reach a destination twice), before the acknowledgement; the rows
            # are stored, so a spool that cannot be written is logged, not refused
            try:
                self._outbox([t for t, _ in group])  # each with its own marks
            except OSError:
                log.exception("a destination could not spool a stored batch")
            self.commits += 1
            self.write_error = None
        except StoreUnavailable as e:  # the store, not the rows: fail the group at once
            self.write_error = e.reason
            self.rejected_batches += len(group)
            for _, fut in group:
                fut.set_exception(e)
            return
        except Exception as e:
            self.write_error = describe(e)
            if len(group) == 1:
                self.rejected_batches += 1
                group[0][1].set_exception(_fresh_exception())
                return
            for item in group:  # isolate the failing request
                self._commit([item])
            return
        for t, fut in group:
            self.acked_rows += t.num_rows
            self.applied_rows += t.num_rows
            self.acked_bytes += t.nbytes
            fut.set_result(t.num_rows)
            self._mark_acked(_orgs(t), time.time())
            self._tap(t)

    def _mark_acked(self, orgs: list[str], now: float) -> None:
        for org in orgs:
            self.acked_at[org] = now

    def lag_ms(self) -> float:
        """How long the oldest acknowledged row that queries do not see yet has waited
        (0: queries see every acknowledged row)."""
        return 0.0

    def pending_for(self, org: str) -> tuple[int, float | None]:
        """``org``'s acknowledged groups that queries do not see yet, and the wall time of
        the oldest (none here: an acknowledged row is in the store)."""
        return 0, None

    def _tap(self, table: pa.Table) -> None:
        for tap in self.taps:
            try:
                tap(table)
            except Exception:  # a tap must never cost an acknowledgement
                log.exception("an ingest tap failed")

    def problems(self) -> list[str]:
        """Why the server cannot take writes or answer reads now (empty when it can)."""
        found = []
        if (why := self.store.problem()) is not None:
            found.append(f"store: {why}")
        if self.write_error is not None:
            found.append(f"writes failing: {self.write_error}")
        if self.is_full():
            found.append(f"ingest backlog at its bound ({self.max_pending_rows:,} rows)")
        return found

    def _backlog(self) -> int:
        return self._pending_rows

    @property
    def pending_rows(self) -> int:
        """Rows accepted but not yet in the store."""
        return self._backlog()

    def is_full(self) -> bool:
        """True when new rows would be refused (lets a caller skip the mapping work)."""
        return self._backlog() >= self.max_pending_rows

    def close(self) -> None:
        """Finish what is queued, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()


class LoggedWriter(Writer):
    """Acknowledge once rows are in the ingest log; feed the store in big transactions.

    The logger thread (``Writer._loop``) turns queued requests into log records, fsyncs
    them once per group and acknowledges. The applier thread appends buffered records to
    the store when a row group's worth has gathered, ``max_delay`` seconds have passed, or
    a reader is waiting (``sync``), committing the last record's sequence number with the
    rows. A query calls ``sync`` first (the store's read barrier), so it still sees every
    row acknowledged before it started. On start, records the store has not committed are
    replayed from the log.
    """

    def __init__(self, store: Store, log_dir: Path, *, apply_rows: int = APPLY_ROWS,
                 max_delay: float = 1.0, **kwargs: int) -> None:
        if getattr(store, "read_barrier", None) is not None:  # its recovery would empty
            raise RuntimeError("this store already has an ingest writer")  # a live log
        self.log = IngestLog(log_dir)
        self.apply_rows = apply_rows
        self.max_delay = max_delay
        self._apply_cv = threading.Condition()
        self._buffer: deque[tuple[int, pa.Table]] = deque()
        self._buffer_rows = 0
        self._oldest = 0.0
        self._unapplied_rows = 0
        self._flush_wanted = False
        self._closing = False
        self.apply_error: str | None = None  # why the last apply failed, until one succeeds
        # (last record seq, ack wall time, orgs) of each acknowledged group not yet applied
        self._unapplied: deque[tuple[int, float, list[str]]] = deque()
        super().__init__(store, **kwargs)
        self.applied_at = {}
        self._acked, self.replayed_rows = recover(store, self.log, apply_rows=apply_rows)
        self._applied = self._acked
        self._applier = threading.Thread(target=self._apply_loop, name="telequery-applier",
                                         daemon=True)
        self._applier.start()
        store.read_barrier = self.sync

    def _backlog(self) -> int:
        return self._pending_rows + self._unapplied_rows

    def _commit(self, group: list[tuple[pa.Table, Future[int]]]) -> None:
        accepted: list[tuple[pa.Table, Future[int]]] = []
        for table, fut in group:  # a table the store cannot take must not reach the log
            try:
                accepted.append((conform(table), fut))
            except (KeyError, ValueError, TypeError, pa.ArrowException) as e:
                self.rejected_batches += 1
                fut.set_exception(ValueError(f"rows do not match the events schema: {e}"))
        if not accepted:
            return
        # only this (logger) thread advances _acked, so reading it here needs no lock
        records = [(self._acked + i + 1, t) for i, (t, _) in enumerate(accepted)]
        try:
            self._outbox([t for _, t in records])
            self.log.append(records)
        except OSError as e:
            self.write_error = f"the ingest log cannot be written: {e}"
            self.rejected_batches += len(accepted)
            for _, fut in accepted:
                fut.set_exception(e)
            return
        self.write_error = None
        rows = sum(t.num_rows for _, t in records)
        orgs = [_orgs(t) for t, _ in accepted]
        now = time.time()
        with self._apply_cv:  # the group's lag is tracked before the applier can take it
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.extend(records)
            self._buffer_rows += rows
            self._unapplied_rows += rows
            self._acked = records[-1][0]
            self._unapplied.append((self._acked, now, sorted(set().union(*orgs))))
            self._apply_cv.notify_all()
        self.commits += 1
        for (table, fut), table_orgs in zip(accepted, orgs, strict=True):
            self.acked_rows += table.num_rows
            self.acked_bytes += table.nbytes
            fut.set_result(table.num_rows)
            self._mark_acked(table_orgs, now)
            self._tap(table)

    def _due(self) -> float:
        """Seconds until the buffer should be applied (0 = now)."""
        if self._closing or self._flush_wanted or self._buffer_rows >= self.apply_rows:
            return 0.0
        return max(0.0, self._oldest + self.max_delay - time.monotonic())

    def _apply_loop(self) -> None:
        while True:
            with self._apply_cv:
                while not self._buffer or self._due() > 0:
                    if not self._buffer and self._closing:
                        return
                    self._apply_cv.wait(self._due() if self._buffer else None)
                taken: list[tuple[int, pa.Table]] = []
                rows = 0
                while self._buffer and (not taken or rows + self._buffer[0][1].num_rows
                                        <= self.max_batch_rows):
                    taken.append(self._buffer.popleft())
                    rows += taken[-1][1].num_rows
                self._buffer_rows -= rows
                self._oldest = time.monotonic()
            mark = taken[-1][0]
            try:
                if self.apply_error is not None:  # after a failure the store may have been
                    taken, rows = self._reconcile(taken)  # reopened: ask what it has
                if taken:
                    self.store.append(pa.concat_tables([t for _, t in taken]), mark=mark)
            except Exception as e:  # the rows are safe in the log: keep them and retry
                if self.apply_error is None:
                    log.exception("applying %d logged rows failed; retrying", rows)
                with self._apply_cv:
                    self.apply_error = describe(e)
                    self._buffer.extendleft(reversed(taken))
                    self._buffer_rows += rows
                    self._apply_cv.notify_all()  # readers waiting in sync() answer now
                    if self._closing:  # shutting down: the next start replays the log
                        return
                    self._apply_cv.wait(1.0)
                continue
            with self._apply_cv:
                if self.apply_error is not None:
                    log.warning("applying logged rows works again")
                self.apply_error = None
                self._applied = max(self._applied, mark)
                self._unapplied_rows -= rows
                self.applied_rows += rows
                self._note_applied(mark)
                if not self._buffer:
                    self._flush_wanted = False
                self._apply_cv.notify_all()
            self.log.drop_through(mark)

    def _reconcile(self, taken: list[tuple[int, pa.Table]]
                   ) -> tuple[list[tuple[int, pa.Table]], int]:
        """After a failed apply: drop the records the store committed after all (the
        failure came after its commit), so a record is never applied twice."""
        mark = self.store.applied_mark()
        if mark < self._applied:  # should not happen: committed rows are in DuckDB's WAL
            log.error("the reopened store is at record %d, behind the %d applied; "
                      "re-applying from the ingest log", mark, self._applied)
            before = self._applied
            again = list(self.log.replay(mark, repair=False, through=before))
            with self._apply_cv:
                self._applied = mark
                self._unapplied_rows += sum(t.num_rows for _, t in again)
            taken = again + [r for r in taken if r[0] > before]
        done = [r for r in taken if r[0] <= mark]
        if done:
            gone = sum(t.num_rows for _, t in done)
            with self._apply_cv:
                self._unapplied_rows -= gone
                self._applied = max(self._applied, mark)
                self._note_applied(mark)
            taken = [r for r in taken if r[0] > mark]
        return taken, sum(t.num_rows for _, t in taken)

    def _note_applied(self, mark: int) -> None:
        """Groups up to record ``mark`` are queryable now (called under ``_apply_cv``)."""
        while self._unapplied and self._unapplied[0][0] <= mark:
            _, at, orgs = self._unapplied.popleft()
            for org in orgs:
                self.applied_at[org] = at

    def lag_ms(self) -> float:
        with self._apply_cv:
            if not self._unapplied:
                return 0.0
            return max(0.0, (time.time() - self._unapplied[0][1]) * 1000.0)

    def pending_for(self, org: str) -> tuple[int, float | None]:
        with self._apply_cv:
            mine = [at for _, at, orgs in self._unapplied if org in orgs]
        return len(mine), (mine[0] if mine else None)

    def sync(self, timeout: float = 60.0) -> None:
        """Wait until every row acknowledged so far is in the store.

        Raises ``StoreUnavailable`` when they cannot be applied (the store failed, the
        disk is full) or not within ``timeout``: a query must not answer without them.
        """
        with self._apply_cv:
            target = self._acked
            if self._applied >= target:
                return
            timeout = statement_timeout(timeout) or timeout
            if self.apply_error is None:
                self._flush_wanted = True
                self._apply_cv.notify_all()
                self._apply_cv.wait_for(lambda: self._applied >= target or
                                        self.apply_error is not None, timeout)
            if self._applied < target:
                raise StoreUnavailable("acknowledged rows cannot be applied to the store "
                                       f"yet: {self.apply_error or 'still applying'}")

    def problems(self) -> list[str]:
        found = super().problems()
        if self.apply_error is not None:
            found.append(f"acknowledged rows cannot be applied: {self.apply_error}")
        return found

    def close(self) -> None:
        """Log what is queued, apply everything, then stop and empty the log."""
        super().close()
        with self._apply_cv:
            self._closing = True
            self._apply_cv.notify_all()
        self._applier.join()
        self.store.read_barrier = None
        if self._applied >= self._acked:
            self.log.clear()
        self.log.close()


def _orgs(table: pa.Table) -> list[str]:
    return table.column("org_id").unique().to_pylist()


def open_writer(store: Store, *, apply_delay: float = 1.0) -> Writer:
    """The writer a server uses: logged on stores that keep a mark, direct otherwise.

    ClickHouse has no transaction spanning the rows and the mark, so it keeps plain group
    commit (each acknowledgement waits for its insert).
    """
    if keeps_log(store):
        return LoggedWriter(store, Path(store.path) / LOG_DIR, max_delay=apply_delay)
    return Writer(store)


def _fresh_exception() -> Exception:
    import sys

    exc = sys.exc_info()[1]
    return exc if isinstance(exc, Exception) else RuntimeError("write failed")
