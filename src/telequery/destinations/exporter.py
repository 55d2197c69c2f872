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
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pyarrow as pa

from telequery.destinations import otlp
from telequery.destinations.config import Destination, everywhere, url_problem
from telequery.destinations.spool import DEFAULT_MAX_BYTES, Spool, batches
from telequery.meta import Meta

log = logging.getLogger(__name__)

DESTINATIONS_DIR = "destinations"  # beside meta.sqlite in the data directory
SEND_TIMEOUT = 10.0
MAX_BACKOFF = 60.0
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


def _post(url: str, headers: dict[str, str], payload: bytes) -> tuple[str | None, bool]:
    """Send one request: (None when it was taken, else why not; whether the refusal is
    permanent, so that retrying cannot help)."""
    problem = url_problem(url)
    if problem:
        return problem, False
    try:
        r = httpx.post(url, content=payload, timeout=SEND_TIMEOUT,
                       headers={**headers, "content-type": _CONTENT_TYPE})
    except httpx.HTTPError as e:
        return f"{type(e).__name__}: {e}", False
    if 200 <= r.status_code < 300:
        return None, False
    return f"HTTP {r.status_code}: {r.text[:200]}", r.status_code in PERMANENT


def preflight(url: str, headers: dict[str, str], dataset: str) -> str | None:
    """Why the destination would refuse an (empty) OTLP request of its signal; None if
    it takes it."""
    empty = (otlp.ExportLogsServiceRequest() if dataset == "opentelemetry-logs"
             else otlp.ExportTraceServiceRequest())
    return _post(url, headers, empty.SerializeToString())[0]


class _Sender:
    """One destination's spool and the thread that empties it."""

    def __init__(self, dest: Destination, folder: Path, max_bytes: int) -> None:
        self.dest = dest
        self.folder = folder
        self.spool = Spool(folder / "queue", max_bytes)
        self.status = _load_status(folder)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"telequery-export-{dest.slug}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=SEND_TIMEOUT + 5)

    def retarget(self, dest: Destination) -> None:
        """New URL, headers or name: the next send uses them."""
        self.dest = dest
        self._wake.set()

    def offer(self, table: pa.Table) -> None:
        payload = otlp.encode(table, self.dest.org, self.dest.dataset)
        if payload is None:
            return
        if not self.spool.put(payload):
            self.status.dropped_batches += 1
            self._save()
        self._wake.set()

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
            error, permanent = _post(dest.url, dest.headers, payload)
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

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
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
        sender = _Sender(dest, self._folder(dest.org, dest.slug), self.max_bytes)
        with self._lock:
            self._senders[key] = sender
        sender.start()

    def remove(self, org: str, slug: str) -> None:
        """A destination was deleted: stop sending and drop its queue."""
        with self._lock:
            sender = self._senders.pop((org, slug), None)
        if sender is not None:
            sender.stop()
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
        with self._lock:
            senders = list(self._senders.values())
        if not senders:
            return
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        for sender in senders:
            sender.offer(table)

    def close(self) -> None:
        """Stop sending. The spools stay open: a batch the writer still acknowledges
        while the server shuts down is queued, and sent after the restart."""
        with self._lock:
            senders = list(self._senders.values())
        for sender in senders:
            sender.stop()
