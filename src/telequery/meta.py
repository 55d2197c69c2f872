"""Metadata in SQLite beside the events: API tokens and saved documents.

Tokens are stored as SHA-256 hashes (a token is 256 random bits, so a fast hash is
enough; nothing to brute-force). Saved queries, saved reports and query runs are
``documents``: one table keyed by (kind, org, id), so every API's saved objects share
one tested implementation and are scoped to an org by construction.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

# reports:manage creates, changes and deletes saved reports (viewing needs query); admin
# implies every scope
SCOPES = ("ingest", "query", "reports:manage", "admin")
TOKEN_PREFIX = "tq_"
MIN_IMPORTED = 24  # characters of an imported token: guessing one stays out of reach


@dataclass(frozen=True)
class Principal:
    """Who is calling: the org every query is scoped to, and what the token may do."""

    org: str
    scopes: frozenset[str]
    token_id: str

    def can(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself, which is shown once at creation."""

    id: str
    org: str
    name: str
    scopes: tuple[str, ...]
    created: datetime
    expires: datetime | None
    last_used: datetime | None
    revoked: datetime | None

    def as_json(self) -> dict[str, object]:
        def t(v: datetime | None) -> str | None:
            return v.isoformat() if v else None
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes),
                "created": t(self.created), "expires": t(self.expires),
                "last_used": t(self.last_used), "revoked": t(self.revoked),
                "active": self.revoked is None and (self.expires is None
                                                    or self.expires > _now())}


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


def _time(v: str | None) -> datetime | None:
    return datetime.fromisoformat(v) if v else None


LAST_USED_EVERY = timedelta(minutes=1)  # last_used is written at most this often a token


class Meta:
    """SQLite metadata store; safe to share between threads (one lock, short calls)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.Lock()
        # hash -> (principal, expiry, last_used written); emptied whenever another
        # connection (the CLI revoking a token) commits, seen through data_version
        self._principals: dict[str, tuple[Principal, datetime | None, datetime | None]] = {}
        self._data_version = -1
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
            self._db.execute("""
                CREATE TABLE IF NOT EXISTS retention (
                  org TEXT NOT NULL, dataset TEXT NOT NULL, kind TEXT NOT NULL,
                  days REAL NOT NULL, PRIMARY KEY (org, dataset, kind))""")
            have = {r[1] for r in self._db.execute("PRAGMA table_info(tokens)")}
            for column in ("expires", "last_used", "revoked"):
                if column not in have:
                    self._db.execute(f"ALTER TABLE tokens ADD COLUMN {column} TEXT")

    # -- tokens -------------------------------------------------------------------------
    def create_token(self, org: str, scopes: list[str] | tuple[str, ...], name: str = "",
                     expires: datetime | None = None) -> str:
        """Create a token and return it; only its hash is kept, so show it once."""
        return self.issue_token(org, scopes, name, expires)[0]

    def issue_token(self, org: str, scopes: list[str] | tuple[str, ...], name: str = "",
                    expires: datetime | None = None, *,
                    value: str | None = None) -> tuple[str, TokenInfo]:
        """Create a token: (the token, shown once; what is stored about it). ``value``
        imports a key clients already hold (e.g. an ``X-Auth-Key`` baked into a config)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {list(scopes)}")
        if not org:
            raise ValueError("org must not be empty")
        if expires is not None and expires <= _now():
            raise ValueError("expires must be in the future")
        if value is not None and len(value) < MIN_IMPORTED:
            raise ValueError(f"an imported token must have at least {MIN_IMPORTED} characters")
        token = value or TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(uuid.uuid4().hex, org, name, tuple(sorted(set(scopes))), _now(),
                         expires, None, None)
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (id, org, scopes, hash, name, created, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.id, org, ",".join(info.scopes), _hash(token), name,
                 info.created.isoformat(), expires.isoformat() if expires else None))
        return token, info

    def list_tokens(self, org: str | None = None) -> list[TokenInfo]:
        """Tokens of one org (every org's with None, for the operator's CLI), newest first."""
        sql = ("SELECT id, org, name, scopes, created, expires, last_used, revoked "
               "FROM tokens")
        with self._lock:
            rows = self._db.execute(sql + " WHERE org = ? ORDER BY created DESC", (org,)) \
                if org is not None else self._db.execute(sql + " ORDER BY org, created DESC")
            rows = rows.fetchall()
        return [TokenInfo(r[0], r[1], r[2] or "", tuple(r[3].split(",")), _time(r[4]),
                          _time(r[5]), _time(r[6]), _time(r[7])) for r in rows]

    def revoke_token(self, token_id: str, org: str | None = None) -> bool:
        """Revoke a token (of ``org`` when given): it fails authentication from now on."""
        with self._lock:
            sql, args = "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", \
                [_now().isoformat(), token_id]
            if org is not None:
                sql += " AND org = ?"
                args.append(org)
            changed = self._db.execute(sql, args).rowcount
            self._principals.clear()
        return bool(changed)

    def token_active(self, token_id: str) -> bool:
        """Whether the token ``token_id`` is still live (not revoked, not expired): what a
        long-lived stream opened with it checks while it runs."""
        with self._lock:
            row = self._db.execute("SELECT expires FROM tokens WHERE id = ? AND revoked IS NULL",
                                   (token_id,)).fetchone()
        if row is None:
            return False
        expires = _time(row[0])
        return expires is None or expires > _now()

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of a live token (not revoked, not expired), or None.

        Lookups are cached by hash; the cache is dropped whenever the database changed
        (another process revoked a token), so a revocation takes effect at once.
        """
        if not token:
            return None
        h = _hash(token)
        now = _now()
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._principals.clear()
                self._data_version = version
            hit = self._principals.get(h)
            if hit is None:
                row = self._db.execute(
                    "SELECT id, org, scopes, expires, last_used FROM tokens "
                    "WHERE hash = ? AND revoked IS NULL", (h,)).fetchone()
                if row is None:
                    return None
                hit = (Principal(row[1], frozenset(row[2].split(",")), row[0]),
                       _time(row[3]), _time(row[4]))
                self._principals[h] = hit
            principal, expires, used = hit
            if expires is not None and expires <= now:
                return None
            if used is None or now - used >= LAST_USED_EVERY:
                self._principals[h] = (principal, expires, now)
                # best effort: a full disk must not turn into failed logins. (This
                # connection's own commits leave data_version as it is.)
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("UPDATE tokens SET last_used = ? WHERE id = ?",
                                     (now.isoformat(), principal.token_id))
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

    def list_kind(self, kind: str) -> list[Document]:
        """Every org's documents of ``kind`` (for server-side work such as exports)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, org, kind, name, body, created, updated FROM documents "
                "WHERE kind = ? ORDER BY org, created", (kind,)).fetchall()
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

    # -- retention rules ----------------------------------------------------------------
    def retention_rules(self, org: str | None = None) -> list[tuple[str, str, str, float]]:
        """(org, dataset, kind, days) rules; ``*`` matches any. One org's with ``org``
        (plus the rules for every org, which apply to it too)."""
        with self._lock:
            if org is None:
                rows = self._db.execute("SELECT org, dataset, kind, days FROM retention "
                                        "ORDER BY org, dataset, kind").fetchall()
            else:
                rows = self._db.execute("SELECT org, dataset, kind, days FROM retention "
                                        "WHERE org IN (?, '*') ORDER BY org, dataset, kind",
                                        (org,)).fetchall()
        return [(r[0], r[1], r[2], float(r[3])) for r in rows]

    def set_retention(self, org: str, dataset: str, kind: str, days: float | None) -> bool:
        """Set (or with ``days=None`` remove) one rule; True when something changed."""
        with self._lock:
            if days is None:
                n = self._db.execute("DELETE FROM retention WHERE org = ? AND dataset = ? "
                                     "AND kind = ?", (org, dataset, kind)).rowcount
            else:
                n = self._db.execute("INSERT OR REPLACE INTO retention VALUES (?, ?, ?, ?)",
                                     (org, dataset, kind, days)).rowcount
        return bool(n)

    def close(self) -> None:
        self._db.close()


def _doc(row: tuple) -> Document:
    return Document(row[0], row[1], row[2], row[3], orjson.loads(row[4]),
                    datetime.fromisoformat(row[5]), datetime.fromisoformat(row[6]))
