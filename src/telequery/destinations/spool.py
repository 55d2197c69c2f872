"""A bounded on-disk queue of OTLP requests for one destination.

One file per batch, ``<seq>.pb``, written to a temporary name, fsynced, renamed and the
folder fsynced, so a batch is either whole on disk or absent: the writer spools before it
acknowledges, so nothing acknowledged is lost to a crash. The sender reads the oldest
file and deletes it once the destination took it (at-least-once: a crash between the
two sends it again). Past ``max_bytes`` a new batch is refused (counted as dropped, and
the destination's status says so) rather than filling the disk the store needs.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from telequery.store.base import fsync_dir

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_SUFFIX = ".pb"


def batches(path: Path) -> list[Path]:
    """The batches queued in a spool folder, oldest first (none if it does not exist)."""
    return sorted(path.glob("*" + _SUFFIX))


class Spool:
    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.tmp"):  # a write a crash interrupted: never acknowledged
            stale.unlink()
        self._lock = threading.Lock()
        self._files = batches(path)
        self._bytes = sum(f.stat().st_size for f in self._files)
        self._next = int(self._files[-1].stem) + 1 if self._files else 1

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def queued(self) -> int:
        return len(self._files)

    @property
    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def put(self, payload: bytes) -> bool:
        """Append durably; False when the queue is at its bound."""
        with self._lock:
            if self._bytes + len(payload) > self.max_bytes:
                return False
            seq, self._next = self._next, self._next + 1
            final = self.path / f"{seq:020d}{_SUFFIX}"
            tmp = final.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            fsync_dir(self.path)
            self._files.append(final)
            self._bytes += len(payload)
            return True

    def peek(self) -> tuple[Path, bytes] | None:
        """The oldest batch, left in place until ``done``."""
        with self._lock:
            if not self._files:
                return None
            head = self._files[0]
        return head, head.read_bytes()

    def done(self, head: Path) -> None:
        """The destination took ``head``: forget it."""
        with self._lock:
            if self._files and self._files[0] == head:
                self._files.pop(0)
                self._bytes -= head.stat().st_size
                head.unlink()
