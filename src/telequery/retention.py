"""Retention: the only way rows leave a store, by rules the operator and each org set.

A rule is (org, dataset, kind, days) where org, dataset and kind may be ``*``; the most
specific rule that matches a row's (org, dataset, kind) wins (org before dataset before
kind), and ``serve --retention`` is the default when none matches. No rule and no default
means rows are kept forever. A sweep lists the (org, dataset, kind) groups with their oldest
row, and deletes, per group past its window, the rows with ``timestamp < now - days``:
a row inside its window is never touched. On DuckDB the file is then compacted when the
sweep freed a large share of it; on ClickHouse the delete is a synchronous mutation, which
rewrites the parts and frees the space itself.

Why sweeps and not ClickHouse TTL clauses: rules change at run time per org through the
admin API, and one code path on both engines is what the tests can hold to the same answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from telequery.store.base import rows_where

if TYPE_CHECKING:
    from telequery.meta import Meta
    from telequery.store.base import Store

log = logging.getLogger(__name__)
ANY = "*"
KINDS = (ANY, "log", "span")
COMPACT_SHARE = 0.1  # compact DuckDB when a sweep deleted at least this share of the rows
# A constant statement: the groups and their oldest row (no request value in it); for one
# org, the org is bound.
GROUPS_SQL = ("SELECT org_id, dataset, kind, min(timestamp), count(*) FROM events "
              "GROUP BY org_id, dataset, kind")
ORG_SWEEP_EVERY = 60.0  # seconds between two sweeps an org's admin asks for


class TooSoon(Exception):
    """An org asked for a sweep again within ``ORG_SWEEP_EVERY`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"a sweep ran for this org less than {ORG_SWEEP_EVERY:.0f} s ago")
        self.retry_after = retry_after


def _groups(store: Store, org: str | None) -> list[tuple]:
    if org is None:
        return store.execute(GROUPS_SQL).rows
    where, params = rows_where(store.dialect, org, None, None, None)
    return store.execute(GROUPS_SQL.replace(" GROUP BY", f" WHERE {where} GROUP BY"),
                         params).rows


Rule = tuple[str, str, str, float]  # org, dataset, kind, days


def days_for(rules: list[Rule], default: float | None, org: str, dataset: str,
             kind: str) -> float | None:
    """The window of one group: the most specific matching rule, else the default."""
    best, score = None, -1
    for o, d, k, days in rules:
        if o in (org, ANY) and d in (dataset, ANY) and k in (kind, ANY):
            s = (o != ANY) * 4 + (d != ANY) * 2 + (k != ANY)
            if s > score:
                best, score = days, s
    return best if best is not None else default


@dataclass
class SweepResult:
    deleted: int = 0
    groups: list[dict[str, object]] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0
    compacted: bool = False


def sweep(store: Store, meta: Meta, default_days: float | None, *,
          now: datetime | None = None, compact: bool = True,
          org: str | None = None) -> SweepResult:
    """Delete every row older than its window (of one ``org``'s groups, or every org's);
    compact DuckDB when that freed enough."""
    now = now or datetime.now(UTC)
    rules = meta.retention_rules()
    result = SweepResult(bytes_before=store.bytes_on_disk())
    total = 0
    for group_org, dataset, kind, oldest, n in _groups(store, org):
        total += int(n)
        days = days_for(rules, default_days, group_org, dataset, kind)
        if days is None or oldest is None:
            continue
        cutoff = now - timedelta(days=days)
        if oldest >= cutoff.replace(tzinfo=None):
            continue
        gone = store.delete(group_org, dataset=dataset, kind=kind, before=cutoff)
        result.deleted += gone
        result.groups.append({"org": group_org, "dataset": dataset, "kind": kind, "days": days,
                              "before": cutoff.isoformat(), "deleted": gone})
    if compact and result.deleted and result.deleted >= COMPACT_SHARE * total and \
            hasattr(store, "compact"):
        store.compact()
        result.compacted = True
    result.bytes_after = store.bytes_on_disk()
    return result


class RetentionLoop:
    """Sweeps every ``every`` seconds in a daemon thread while the server runs."""

    def __init__(self, store: Store, meta: Meta, default_days: float | None,
                 every: float = 3600.0) -> None:
        self.store, self.meta, self.default_days, self.every = store, meta, default_days, every
        self.deleted_total = 0
        self.sweeps = 0
        self._org_swept: dict[str, float] = {}  # org -> when its admin last asked
        self._org_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="telequery-retention",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run_for(self, org: str) -> SweepResult:
        """One org's sweep, as its admin asks (``TooSoon`` within ``ORG_SWEEP_EVERY`` s of
        the last: a sweep scans the org's rows)."""
        now = time.monotonic()
        with self._org_lock:
            last = self._org_swept.get(org)
            if last is not None and now - last < ORG_SWEEP_EVERY:
                raise TooSoon(int(ORG_SWEEP_EVERY - (now - last)) + 1)
            self._org_swept[org] = now
        return self.run_once(org)

    def run_once(self, org: str | None = None) -> SweepResult:
        # an org's own sweep leaves compaction (a rewrite of every org's rows) to the loop
        result = sweep(self.store, self.meta, self.default_days, org=org,
                       compact=org is None)
        self.deleted_total += result.deleted
        self.sweeps += 1
        if result.deleted:
            log.warning("retention deleted %d rows (%d -> %d bytes)", result.deleted,
                        result.bytes_before, result.bytes_after)
        return result

    def _loop(self) -> None:
        while not self._stop.wait(min(self.every, 60.0) if not self.sweeps else self.every):
            t0 = time.monotonic()
            try:
                self.run_once()
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("retention sweep failed after %.1f s", time.monotonic() - t0)

    def stop(self) -> None:
        self._stop.set()
