"""Metadata in SQLite beside the events: API tokens and saved documents.

Tokens are stored as SHA-256 hashes (a token is 256 random bits, so a fast hash is
enough; nothing to brute-force). Saved queries, saved reports and query runs are
``documents``: one table keyed by (kind, org, id), so every API's saved objects share
one tested implementation and are scoped to an org by construction.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

SCOPES = ("ingest", "query", "admin")
TOKEN_PREFIX = "tq_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the org every query is scoped to, and what the token may do."""

    org: str
    scopes: frozenset[str]
    token_id: str

    def can(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class Document:
    id: str
    org: str
    kind: str
    name: str
    body: dict
    created: datetime
    updated: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Meta:
    """SQLite metadata store; safe to share between threads (one lock, short calls)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        self._principals: dict[str, Principal | None] = {}
        with self._lock:
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS tokens (
                  id TEXT PRIMARY KEY, org TEXT NOT NULL, scopes TEXT NOT NULL,
                  hash TEXT NOT NULL UNIQUE, name TEXT, created TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS documents (
                  kind TEXT NOT NULL, org TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
                  body TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
                  PRIMARY KEY (kind, org, id));
                CREATE INDEX IF NOT EXISTS documents_by_name ON documents (kind, org, name);
                CREATE INDEX IF NOT EXISTS documents_by_created
                  ON documents (kind, org, created);
            """)

    # -- tokens -------------------------------------------------------------------------
    def create_token(self, org: str, scopes: list[str] | tuple[str, ...], name: str = ""
                     ) -> str:
        """Create a token and return it; only its hash is kept, so show it once."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {list(scopes)}")
        if not org:
            raise ValueError("org must not be empty")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?)",
                             (uuid.uuid4().hex, org, ",".join(sorted(set(scopes))),
                              _hash(token), name, _now().isoformat()))
        return token

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of a token, or None. Lookups are cached by hash."""
        if not token:
            return None
        h = _hash(token)
        if h in self._principals:
            return self._principals[h]
        with self._lock:
            row = self._db.execute("SELECT id, org, scopes FROM tokens WHERE hash = ?",
                                   (h,)).fetchone()
        principal = Principal(row[1], frozenset(row[2].split(",")), row[0]) if row else None
        if principal is not None:
            self._principals[h] = principal
        return principal

    # -- documents ----------------------------------------------------------------------
    def put(self, kind: str, org: str, name: str, body: dict, doc_id: str | None = None,
            *, durable: bool = True) -> Document:
        """Insert a document; ``durable=False`` skips the fsync (for history records)."""
        now = _now()
        doc = Document(doc_id or str(uuid.uuid4()), org, kind, name, body, now, now)
        self._write("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (kind, org, doc.id, name, orjson.dumps(body).decode(), now.isoformat(),
                     now.isoformat()), durable=durable)
        return doc

    def trim(self, kind: str, org: str, keep: int) -> int:
        """Delete all but the newest ``keep`` documents of ``kind`` for ``org`` (a history
        that would otherwise grow with every request); returns how many went. No fsync:
        losing a trim to a power cut only means trimming again."""
        return self._write(
            "DELETE FROM documents WHERE kind = ? AND org = ? AND id IN ("
            "SELECT id FROM documents WHERE kind = ? AND org = ? "
            "ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?)",
            (kind, org, kind, org, keep), durable=False)

    def _write(self, sql: str, args: tuple, *, durable: bool) -> int:
        with self._lock:
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                return self._db.execute(sql, args).rowcount
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    def get(self, kind: str, org: str, doc_id: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, org, kind, name, body, created, updated FROM documents "
                "WHERE kind = ? AND org = ? AND id = ?", (kind, org, doc_id)).fetchone()
        return _doc(row) if row else None

    def find_by_name(self, kind: str, org: str, name: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, org, kind, name, body, created, updated FROM documents "
                "WHERE kind = ? AND org = ? AND name = ?", (kind, org, name)).fetchone()
        return _doc(row) if row else None

    def list(self, kind: str, org: str, *, order_by: str = "created", descending: bool = True,
             limit: int | None = None, offset: int = 0) -> list[Document]:
        column = {"created": "created", "updated": "updated", "name": "name"}[order_by]
        direction = "DESC" if descending else "ASC"
        sql = ("SELECT id, org, kind, name, body, created, updated FROM documents "
               f"WHERE kind = ? AND org = ? ORDER BY {column} {direction}, id {direction}")
        args: list[object] = [kind, org]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_doc(r) for r in rows]

    def count(self, kind: str, org: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM documents WHERE kind = ? AND org = ?",
                                    (kind, org)).fetchone()[0]

    def update(self, kind: str, org: str, doc_id: str, *, name: str | None = None,
               body: dict | None = None) -> Document | None:
        doc = self.get(kind, org, doc_id)
        if doc is None:
            return None
        new_name = doc.name if name is None else name
        new_body = doc.body if body is None else body
        now = _now()
        with self._lock:
            self._db.execute("UPDATE documents SET name = ?, body = ?, updated = ? "
                             "WHERE kind = ? AND org = ? AND id = ?",
                             (new_name, orjson.dumps(new_body).decode(), now.isoformat(), kind,
                              org, doc_id))
        return Document(doc.id, org, kind, new_name, new_body, doc.created, now)

    def delete(self, kind: str, org: str, doc_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM documents WHERE kind = ? AND org = ? AND id = ?",
                                   (kind, org, doc_id))
        return cur.rowcount > 0

    def close(self) -> None:
        self._db.close()


def _doc(row: tuple) -> Document:
    return Document(row[0], row[1], row[2], row[3], orjson.loads(row[4]),
                    datetime.fromisoformat(row[5]), datetime.fromisoformat(row[6]))
