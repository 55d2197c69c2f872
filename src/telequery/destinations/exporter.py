"""Forwarding acknowledged batches to each org's destinations.

``Exporter.spool`` is registered with the ingest writer as an outbox: it runs in the
writer thread for every group of tables *before* they are acknowledged and writes each
enabled destination's share (as an OTLP request) to that destination's spool, so what a
sender was told is stored is also queued for export. A sender thread per destination
posts the spooled requests in order as OTLP/HTTP protobuf, deleting each once the
destination answers 2xx; failures are retried with exponential backoff (1 s doubling to
60 s), except 400 and 413, which OTLP calls permanent (the batch is set aside and
counted). Status (last success, last error, queued bytes, dropped batches) is kept per
destination in ``status.json`` beside its spool.

Every request goes through ``egress`` (public addresses only unless the operator allows
more, one deadline per request, no response body read, the loop marker), an org has at
most ``MAX_PER_ORG`` destinations and ``ORG_MAX_BYTES`` queued across them, and deleting
one never waits for its sender (docs/destinations.md, docs/security.md).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

from telequery.destinations import egress, otlp
from telequery.destinations.config import Destination, everywhere
from telequery.destinations.egress import EgressPolicy
from telequery.destinations.spool import DEFAULT_MAX_BYTES, Spool, batches
from telequery.meta import Meta
from telequery.schema import is_exported

log = logging.getLogger(__name__)

DESTINATIONS_DIR = "destinations"  # beside meta.sqlite in the data directory
SEND_TIMEOUT = egress.SEND_DEADLINE  # one whole request
MAX_BACKOFF = 60.0
MAX_PER_ORG = 10  # destinations of one org (each spools every batch of the org's ingest)
ORG_MAX_BYTES = DEFAULT_MAX_BYTES  # queued across all of an org's destinations
PERMANENT = (400, 413)  # OTLP/HTTP: the payload itself is refused; retrying cannot help
_CONTENT_TYPE = "application/x-protobuf"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Status:
    last_complete: str = ""  # ISO time of the last batch the destination took
    last_error: str = ""  # ISO time of the last failure
    error_message: str = ""
    sent_batches: int = 0
    rejected_batches: int = 0  # refused by the destination as permanent errors (400/413)
    dropped_batches: int = 0  # not queued: the spool was at its bound


def _load_status(folder: Path) -> Status:
    """The status saved beside a spool (survives restarts); a fresh one if unreadable."""
    try:
        return Status(**orjson.loads((folder / "status.json").read_bytes()))
    except (OSError, orjson.JSONDecodeError, TypeError):
        return Status()


def _post(policy: EgressPolicy, url: str, headers: dict[str, str],
          payload: bytes) -> tuple[str | None, bool]:
    """Send one request: (None when it was taken, else why not; whether the refusal is
    permanent, so that retrying cannot help). Only the status code of an answer is
    reported, never its body."""
    status, problem = egress.post(policy, url, headers, payload, _CONTENT_TYPE)
    if status is None:
        return problem, False
    if 200 <= status < 300:
        return None, False
    return f"HTTP {status}", status in PERMANENT


def preflight(policy: EgressPolicy, url: str, headers: dict[str, str],
              dataset: str) -> str | None:
    """Why the destination would refuse an (empty) OTLP request of its signal; None if
    it takes it."""
    empty = (otlp.ExportLogsServiceRequest() if dataset == "opentelemetry-logs"
             else otlp.ExportTraceServiceRequest())
    return _post(policy, url, headers, empty.SerializeToString())[0]


class _Sender:
    """One destination's spool and the thread that empties it."""

    def __init__(self, dest: Destination, folder: Path, max_bytes: int,
                 policy: EgressPolicy) -> None:
        self.dest = dest
        self.policy = policy
        self.folder = folder
        self.spool = Spool(folder / "queue", max_bytes)
        self.status = _load_status(folder)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"telequery-export-{dest.slug}")

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop sending; ``wait=False`` returns at once (a send in flight ends within its
        deadline and its outcome is dropped)."""
        self._stop.set()
        self._wake.set()
        if wait and self._thread.is_alive():
            self._thread.join(timeout=SEND_TIMEOUT + 5)

    def retarget(self, dest: Destination) -> None:
        """New URL, headers or name: the next send uses them."""
        self.dest = dest
        self._wake.set()

    def offer(self, table: pa.Table, org_room: int) -> int:
        """Queue the batch if the spool and the org's budget (``org_room`` bytes) have room;
        the bytes queued."""
        payload = otlp.encode(table, self.dest.org, self.dest.dataset)
        if payload is None:
            return 0
        if len(payload) > org_room or not self.spool.put(payload):
            self.status.dropped_batches += 1
            self._save()
            return 0
        self._wake.set()
        return len(payload)

    def _save(self) -> None:
        try:
            (self.folder / "status.json").write_bytes(orjson.dumps(asdict(self.status)))
        except OSError:
            log.warning("cannot write the status of destination %s", self.dest.slug)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            head = self.spool.peek()
            if head is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            path, payload = head
            dest = self.dest  # read once: an update swaps it
            error, permanent = _post(self.policy, dest.url, dest.headers, payload)
            if self._stop.is_set():  # deleted or shutting down meanwhile: sent again later
                return
            if error is None or permanent:
                self.spool.done(path)
                if error is None:
                    self.status.last_complete = _now()
                    self.status.sent_batches += 1
                    self.status.error_message = ""
                else:
                    self.status.rejected_batches += 1
                    self.status.last_error, self.status.error_message = _now(), error
                self._save()
                backoff = 1.0
                continue
            self.status.last_error, self.status.error_message = _now(), error
            self._save()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def report(self) -> dict[str, object]:
        return {**asdict(self.status), "queued_bytes": self.spool.queued_bytes,
                "queued_batches": self.spool.queued, "queue_full": self.spool.full,
                "queue_max_bytes": self.spool.max_bytes}


class Exporter:
    """Every enabled destination's sender; ``spool`` is the writer's outbox."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 policy: EgressPolicy | None = None, org_max_bytes: int = ORG_MAX_BYTES
                 ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.org_max_bytes = org_max_bytes
        self.policy = policy or EgressPolicy()
        self._senders: dict[tuple[str, str], _Sender] = {}
        self._lock = threading.Lock()
        self._started = False

    def _folder(self, org: str, slug: str) -> Path:
        # the org is hashed: a folder name must not depend on what an org id may contain
        return self.root / hashlib.sha256(org.encode()).hexdigest()[:16] / slug

    def start(self, destinations: list[Destination]) -> None:
        """Begin sending (with what each spool kept across a restart)."""
        self._started = True
        for dest in destinations:
            self.configure(dest)

    def load(self, meta: Meta) -> None:
        self.start(everywhere(meta))

    def configure(self, dest: Destination) -> None:
        """A destination was created or changed: (re)start, update or stop its sender.
        A disabled one keeps its queue but neither takes nor sends batches."""
        key = (dest.org, dest.slug)
        with self._lock:
            sender = self._senders.get(key)
            if sender is not None and dest.enabled:
                sender.retarget(dest)
                return
            if sender is not None:
                del self._senders[key]
            elif not dest.enabled:
                return
        if sender is not None:
            sender.stop()
            return
        if not self._started:
            return
        sender = _Sender(dest, self._folder(dest.org, dest.slug), self.max_bytes, self.policy)
        with self._lock:
            self._senders[key] = sender
        sender.start()

    def remove(self, org: str, slug: str) -> None:
        """A destination was deleted: stop sending and drop its queue, without waiting for
        a send in flight (its sender drops the outcome)."""
        with self._lock:
            sender = self._senders.pop((org, slug), None)
        if sender is not None:
            sender.stop(wait=False)
        shutil.rmtree(self._folder(org, slug), ignore_errors=True)

    def status(self, org: str, slug: str) -> dict[str, object]:
        with self._lock:
            sender = self._senders.get((org, slug))
        if sender is not None:
            return sender.report()
        folder = self._folder(org, slug)
        saved = _load_status(folder)
        queued = batches(folder / "queue")
        return {**asdict(saved), "queued_bytes": sum(f.stat().st_size for f in queued),
                "queued_batches": len(queued), "queue_full": False,
                "queue_max_bytes": self.max_bytes}

    def spool(self, tables: list[pa.Table]) -> None:
        """Writer outbox: queue each enabled destination's rows before the ack.
        Raises OSError when a spool cannot be written (the group then fails)."""
        tables = [t for t in tables if not is_exported(t)]
        with self._lock:
            senders = list(self._senders.values())
        if not senders or not tables:
            return
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        queued: dict[str, int] = {}  # per org, across its destinations
        for sender in senders:
            queued[sender.dest.org] = queued.get(sender.dest.org, 0) + sender.spool.queued_bytes
        for sender in senders:
            org = sender.dest.org
            queued[org] += sender.offer(table, self.org_max_bytes - queued[org])

    def close(self) -> None:
        """Stop sending. The spools stay open: a batch the writer still acknowledges
        while the server shuts down is queued, and sent after the restart."""
        with self._lock:
            senders = list(self._senders.values())
        for sender in senders:
            sender.stop()
