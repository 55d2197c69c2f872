"""Live tail: ``POST /telemetry/live-tail`` opens a tail and answers ``{wsUrl}``; the
WebSocket there streams, as JSON messages in the events view's event shape, every event of
the org that matches the tail's filters and is acknowledged after it opened.

It taps the ingest path, not the store (``Writer.taps``): each acknowledged table is
handed to a matcher thread (the writer never waits for it) and matched against every open
tail of its org with the same compiled SQL a query would run, over the table in an
in-memory DuckDB (``query.run_on_batch``), so a tail means what the same filters mean in a
query, on both engines. Measured on 512-span batches: ~4 ms a batch a tail when nothing
matches, ~14 ms when all 512 match (most of it rendering the events).

Bounded: each tail queues at most ``QUEUE_EVENTS`` events; past that its reader gets
``{"type": "dropped", "count": N}`` instead of the events, never unbounded memory. At most
``MAX_TAILS_PER_ORG`` open tails an org (at the cap, the oldest tail whose socket was
never opened is closed to make room; with every tail being read, a new one is refused);
a tail without a heartbeat for ``IDLE_SECONDS`` is closed.
The tail id in the URL is 128 random bits, bound to the org and the token that opened it:
the token must still be live when the WebSocket attaches and, checked every
``TOKEN_CHECK_SECONDS``, while it streams; revoking it ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from telequery.api.errors import ApiError
from telequery.api.workers.response import EVENT_COLUMNS, event
from telequery.query import (
    Condition,
    Filter,
    FilterGroup,
    Needle,
    Op,
    Query,
    TimeRange,
    run_on_batch,
)

log = logging.getLogger("telequery.live_tail")
QUEUE_EVENTS = 1_000
PENDING_TABLES = 256  # acknowledged tables waiting to be matched
MAX_TAILS_PER_ORG = 10
IDLE_SECONDS = 60.0
TOKEN_CHECK_SECONDS = 2.0
_ALL_TIME = TimeRange(datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


@dataclass
class Tail:
    id: str
    org: str
    query: Query
    script_id: str | None
    idle_seconds: float
    token_id: str = ""  # the token that opened it: the tail lives no longer than it
    loop: asyncio.AbstractEventLoop | None = None
    queue: asyncio.Queue[dict[str, object]] | None = None
    dropped: int = 0
    seen: float = field(default_factory=time.monotonic)
    closed: bool = False
    limit: int = QUEUE_EVENTS
    # Events acknowledged after the tail opened but before its reader attached.
    early: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expired(self, now: float) -> bool:
        return self.closed or now - self.seen > self.idle_seconds

    def deliver(self, events: list[dict[str, object]]) -> None:
        """From the matcher thread: hand events to the reader's event loop, or keep them
        (up to the queue's bound) until a reader attaches."""
        with self.lock:
            if self.closed:
                return
            if self.loop is None:
                room = max(0, self.limit - len(self.early))
                self.early.extend(events[:room])
                self.dropped += len(events) - min(room, len(events))
                return
        self.loop.call_soon_threadsafe(self._put, events)

    def _put(self, events: list[dict[str, object]]) -> None:
        assert self.queue is not None
        for ev in events:
            if self.queue.full():
                self.dropped += 1
            else:
                self.queue.put_nowait(ev)


class TailHub:
    """The open tails of one server."""

    def __init__(self, *, max_per_org: int = MAX_TAILS_PER_ORG,
                 idle_seconds: float = IDLE_SECONDS, queue_events: int = QUEUE_EVENTS) -> None:
        self.max_per_org = max_per_org
        self.idle_seconds = idle_seconds
        self.queue_events = queue_events
        self._tails: dict[str, Tail] = {}
        self._lock = threading.Lock()
        # Matching runs in a thread of its own, so an open tail never slows an
        # acknowledgement: the writer only hands tables over (dropping, with a notice to
        # every tail, when the matcher is PENDING_TABLES behind).
        self._pending: queue.Queue[pa.Table] = queue.Queue(PENDING_TABLES)
        self._matcher: threading.Thread | None = None

    def open(self, org: str, flt: Filter | None, needle: Needle | None,
             script_id: str | None, token_id: str = "") -> Tail:
        if script_id:
            by_script = Condition("$metadata.service", Op.EQ, script_id)
            flt = by_script if flt is None else FilterGroup("and", (flt, by_script))
        query = Query("events", _ALL_TIME, filter=flt, needle=needle, columns=EVENT_COLUMNS)
        with self._lock:
            self._expire(time.monotonic())
            mine = [t for t in self._tails.values() if t.org == org]
            unread = [t for t in mine if t.queue is None]
            if len(mine) >= self.max_per_org and unread:
                # a tail whose socket was never opened goes first (clients that open a
                # tail and never read it must not lock the account out)
                oldest = min(unread, key=lambda t: t.seen)
                self._tails.pop(oldest.id).closed = True
            elif len(mine) >= self.max_per_org:
                raise ApiError(429, f"at most {self.max_per_org} live tails may be open for "
                                    "an account; close one first", None, "too_many_tails",
                               headers={"Retry-After": "5"})
            tail = Tail(secrets.token_urlsafe(16), org, query, script_id, self.idle_seconds,
                        token_id, limit=self.queue_events)
            self._tails[tail.id] = tail
        return tail

    def attach(self, tail_id: str, loop: asyncio.AbstractEventLoop) -> Tail | None:
        """The WebSocket reader of a tail (one at a time)."""
        with self._lock:
            tail = self._tails.get(tail_id)
            if tail is None or tail.expired(time.monotonic()) or tail.queue is not None:
                return None
            with tail.lock:
                tail.loop, tail.queue = loop, asyncio.Queue(self.queue_events)
                early, tail.early = tail.early, []
            tail._put(early)  # what was acknowledged before the reader came
            tail.seen = time.monotonic()
            return tail

    def heartbeat(self, org: str, script_id: str | None = None) -> int:
        """Keep the org's tails (of one script, if named) open; how many there are."""
        now = time.monotonic()
        with self._lock:
            tails = [t for t in self._tails.values() if t.org == org and not t.expired(now)
                     and (not script_id or t.script_id == script_id)]
            for t in tails:
                t.seen = now
        return len(tails)

    def close(self, tail: Tail) -> None:
        with self._lock:
            tail.closed = True
            self._tails.pop(tail.id, None)

    def _expire(self, now: float) -> None:
        for tail_id in [i for i, t in self._tails.items() if t.expired(now)]:
            self._tails.pop(tail_id).closed = True

    def offer(self, table: pa.Table) -> None:
        """The writer's tap: queue an acknowledged table for matching (cheap when no tail
        is open, and never blocking)."""
        with self._lock:
            if not self._tails:
                return
            if self._matcher is None:
                self._matcher = threading.Thread(target=self._match_loop, daemon=True,
                                                 name="telequery-live-tail")
                self._matcher.start()
        try:
            self._pending.put_nowait(table)
        except queue.Full:
            with self._lock:
                for tail in self._tails.values():
                    tail.dropped += table.num_rows  # an upper bound: not matched

    def _match_loop(self) -> None:
        while True:
            table = self._pending.get()
            try:
                self.match(table)
            except Exception:  # one bad batch must not end every tail
                log.exception("matching a batch for live tails failed")

    def match(self, table: pa.Table) -> None:
        """Match an acknowledged table against the open tails and deliver the events."""
        with self._lock:
            tails = [t for t in self._tails.values() if not t.closed]
        if not tails or "org_id" not in table.column_names:
            return
        orgs = set(pc.unique(table.column("org_id")).to_pylist())
        for tail in tails:
            if tail.org not in orgs:
                continue
            result = run_on_batch(table, tail.query, tail.org)
            if result.rows:
                at = {c: i for i, c in enumerate(result.columns)}
                tail.deliver([event(row, at) for row in reversed(result.rows)])  # oldest first


async def stream(tail: Tail, send_json, is_open,  # type: ignore[no-untyped-def]
                 token_live=None) -> None:
    """Send a tail's events until it expires, its token is revoked or the reader goes:
    events as they come, a ``dropped`` notice when the queue overflowed,
    ``{"type": "closed"}`` at the end. ``token_live``: an async check of the token."""
    assert tail.queue is not None
    checked = time.monotonic()
    while is_open() and not tail.expired(time.monotonic()):
        if token_live is not None and time.monotonic() - checked >= TOKEN_CHECK_SECONDS:
            checked = time.monotonic()
            if not await token_live():
                tail.closed = True
                await send_json({"type": "closed", "reason": "token revoked"})
                return
        try:
            ev = await asyncio.wait_for(tail.queue.get(), timeout=1.0)
        except TimeoutError:
            ev = None
        if tail.dropped:
            count, tail.dropped = tail.dropped, 0
            await send_json({"type": "dropped", "count": count})
        if ev is not None:
            await send_json({"type": "event", **ev})
    if is_open():
        await send_json({"type": "closed", "reason": "idle: no heartbeat"})
