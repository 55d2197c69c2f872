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
import threading
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from telequery.store.base import Store


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
            if self._pending_rows + table.num_rows > self.max_pending_rows and self._queue:
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

    def _commit(self, group: list[tuple[pa.Table, Future[int]]]) -> None:
        try:
            table = pa.concat_tables([t for t, _ in group]) if len(group) > 1 else group[0][0]
            self.store.append(table)
            self.commits += 1
        except Exception:
            if len(group) == 1:
                group[0][1].set_exception(_fresh_exception())
                return
            for item in group:  # isolate the failing request
                self._commit([item])
            return
        for t, fut in group:
            fut.set_result(t.num_rows)

    @property
    def pending_rows(self) -> int:
        """Rows queued or being committed."""
        return self._pending_rows

    def is_full(self) -> bool:
        """True when new rows would be refused (lets a caller skip the mapping work)."""
        return self._pending_rows >= self.max_pending_rows

    def close(self) -> None:
        """Finish what is queued, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()


def _fresh_exception() -> Exception:
    import sys

    exc = sys.exc_info()[1]
    return exc if isinstance(exc, Exception) else RuntimeError("write failed")
