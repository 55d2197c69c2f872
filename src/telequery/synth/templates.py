"""Log message templates with variable parts, so pattern mining has something real to find.

A template is text with ``{kind}`` placeholders; each kind draws a fresh value (an id, a
duration, an IP, a quoted file name, ...). ``pattern()`` gives the template as a miner
should recover it, with every placeholder replaced by ``<*>``. Templates are drawn with
Zipf-like weights, like real services, where a few lines dominate and most are rare.
"""

from __future__ import annotations

import random
import re
import string
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass

from telequery.synth import catalog_data as cd
from telequery.synth import genai_data as gd

Draw = Callable[[random.Random], str]


def _pick(options: tuple[str, ...]) -> Draw:
    n = len(options)
    return lambda r: options[int(r.random() * n)]


def _uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _ip(r: random.Random) -> str:
    b = r.getrandbits(32)
    return f"{(b >> 24) % 223 + 1}.{b >> 16 & 255}.{b >> 8 & 255}.{b & 255}"


_PATHS = (
    *(rt.route for s in cd.SERVICES for rt in s.routes),
    "/favicon.ico",
    "/robots.txt",
    "/static/app.js",
    "/static/main.css",
)
_FILE_STEMS = ("report", "invoice", "avatar", "export", "backup", "upload", "statement", "photo")
_FILE_EXTS = ("csv", "pdf", "png", "jpg", "json", "zip")
_FIELDS = (
    "email",
    "quantity",
    "price",
    "currency",
    "address.zip",
    "phone",
    "sku",
    "name",
    "start_date",
    "coupon_code",
    "country",
    "items[0].id",
)
_TABLES = (
    "users",
    "orders",
    "order_items",
    "invoices",
    "sessions",
    "products",
    "inventory",
    "payments",
    "audit_log",
)
_HOSTS = tuple(sorted({u for s in cd.SERVICES for u in s.upstreams}))
_KEY_PREFIX = ("session", "user", "rate", "cart", "flag", "token", "etag")
_FLAGS = ("new-checkout", "dark-mode", "search-v2", "fast-images", "beta-agents", "ab-pricing")
_DB_ERRS = (
    "deadlock detected",
    "connection reset by peer",
    "too many connections",
    "statement timeout",
    "duplicate key value violates unique constraint",
)


def _path(r: random.Random) -> str:
    p = _PATHS[int(r.random() * len(_PATHS))]
    return p.replace(":id", str(r.getrandbits(20))) if ":id" in p else p


def _ms(r: random.Random) -> str:
    return "%.1f" % (3.0 / (r.random() + 0.015))


VARS: dict[str, Draw] = {
    "id": lambda r: str(r.getrandbits(22) + 1000),
    "n": lambda r: str(int(2 ** (r.random() * 6))),
    "count": lambda r: str(int(2 ** (r.random() * 13))),
    "ms": _ms,
    "sec": lambda r: "%.2f" % (0.5 / (r.random() + 0.01)),
    "pct": lambda r: "%.1f" % (r.random() * 100),
    "bytes": lambda r: str(int(2 ** (8 + r.random() * 16))),
    "ip": _ip,
    "port": lambda r: str(1024 + r.getrandbits(15)),
    "uuid": _uuid,
    "hex": lambda r: f"{r.getrandbits(64):016x}",
    "path": _path,
    "email": lambda r: gd.USERS[int(r.random() * len(gd.USERS))].email,
    "user": lambda r: gd.USERS[int(r.random() * len(gd.USERS))].id,
    "person": lambda r: gd.USERS[int(r.random() * len(gd.USERS))].display,
    "file": lambda r: (
        f"{_FILE_STEMS[int(r.random() * 8)]}-{r.getrandbits(14)}.{_FILE_EXTS[int(r.random() * 6)]}"
    ),
    "key": lambda r: f"{_KEY_PREFIX[int(r.random() * 7)]}:{r.getrandbits(32):08x}",
    "host": _pick(_HOSTS),
    "status": _pick(("200", "201", "204", "301", "304", "400", "401", "404", "429", "500", "503")),
    "ver": lambda r: f"{1 + r.getrandbits(2)}.{r.getrandbits(4)}.{r.getrandbits(5)}",
    "table": _pick(_TABLES),
    "field": _pick(_FIELDS),
    "queue": _pick(("orders", "payments", "emails", "push", "events", "stock-updates")),
    "colo": _pick(cd.COLOS),
    "flag": _pick(_FLAGS),
    "dberr": _pick(_DB_ERRS),
    "token": lambda r: "".join(r.choices(string.ascii_letters + string.digits, k=6)) + "...",
    "model": _pick(tuple(m.request for m in gd.MODELS)),
    "tool": _pick(tuple(t.name for t in gd.TOOLS)),
    "agent": _pick(tuple(a.name for a in gd.AGENTS)),
    "sku": lambda r: f"SKU-{r.getrandbits(16):05d}",
    "amount": lambda r: "%.2f" % (r.random() * 400),
    "method": _pick(("GET", "GET", "GET", "POST", "PUT", "DELETE")),
}

_ENTITIES = (
    "user",
    "order",
    "invoice",
    "product",
    "cart",
    "session",
    "payment",
    "subscription",
    "shipment",
    "coupon",
    "webhook",
    "account",
)

# (level, text) — {E} is expanded to every entity, giving one template per entity.
_FAMILIES = (
    ("DEBUG", "cache hit for {E} {id}"),
    ("DEBUG", "cache miss for {E} {id}, loading from origin"),
    ("DEBUG", "serialized {E} {id} ({bytes} bytes)"),
    ("DEBUG", "loading {E} {id} from database"),
    ("INFO", "fetched {E} {id} in {ms}ms"),
    ("INFO", "created {E} {uuid}"),
    ("INFO", "updated {E} {id} ({n} fields changed)"),
    ("INFO", "deleted {E} {id} on behalf of {user}"),
    ("INFO", "{E} {id} event published to queue {queue}"),
    ("INFO", "{E} {id} exported to '{file}'"),
    ("WARN", "{E} {id} not found"),
    ("WARN", "validation failed for {E} {id}: field '{field}' is invalid"),
    ("WARN", "slow query loading {E} {id}: {ms}ms"),
    ("ERROR", "failed to persist {E} {id}: {dberr}"),
)

# Worker logs that are not about one entity.
_WORKER = (
    ("DEBUG", "incoming request {method} {path} from {ip}"),
    ("DEBUG", "matched route {path}"),
    ("DEBUG", "parsed request body ({bytes} bytes)"),
    ("DEBUG", "KV get {key} took {ms}ms"),
    ("DEBUG", "KV put {key} ttl={n}s"),
    ("DEBUG", "D1 query on {table} returned {count} rows in {ms}ms"),
    ("DEBUG", "R2 get '{file}' ({bytes} bytes)"),
    ("DEBUG", "feature flag '{flag}' evaluated to true for {user}"),
    ("DEBUG", "feature flag '{flag}' evaluated to false for {user}"),
    ("DEBUG", "jwt verified for {user}, expires in {n}m"),
    ("DEBUG", "connection pool stats: active={n} idle={n} waiting={n}"),
    ("DEBUG", "subrequest {n} to {host}"),
    ("DEBUG", "durable object {hex} resumed"),
    ("DEBUG", "using cached config version {ver}"),
    ("DEBUG", "header x-request-id={uuid}"),
    ("DEBUG", "cors preflight allowed for origin https://{host}"),
    ("DEBUG", "computed etag {hex} for {path}"),
    ("DEBUG", "queue batch size {n}, first message {uuid}"),
    ("DEBUG", "retrying {host} in {ms}ms (attempt {n})"),
    ("DEBUG", "compressed response {bytes} -> {bytes} bytes"),
    ("INFO", "request completed {method} {path} {status} in {ms}ms"),
    ("INFO", "user {user} logged in from {ip}"),
    ("INFO", "user {email} logged out"),
    ("INFO", "password reset requested for {email}"),
    ("INFO", "session {hex} created for {user}"),
    ("INFO", "session {hex} expired"),
    ("INFO", "order {id} placed by {email}, total {amount} USD"),
    ("INFO", "payment {uuid} captured: {amount} USD"),
    ("INFO", "refund {uuid} issued for order {id}"),
    ("INFO", "invoice {id} sent to {email}"),
    ("INFO", "email sent to {email} (template '{file}')"),
    ("INFO", "push notification delivered to {n} devices for {user}"),
    ("INFO", "uploaded '{file}' ({bytes} bytes) for {user}"),
    ("INFO", "resized image {id} to {n}x{n} in {ms}ms"),
    ("INFO", "served '{file}' from cache"),
    ("INFO", "search for '{field}' returned {count} hits in {ms}ms"),
    ("INFO", "reindexed {count} documents in {sec}s"),
    ("INFO", "synced {count} inventory records from {host}"),
    ("INFO", "reserved {n} units of {sku} for order {id}"),
    ("INFO", "released reservation {uuid} ({n} units of {sku})"),
    ("INFO", "cron job started: batch {uuid}"),
    ("INFO", "cron job finished: {count} items in {sec}s"),
    ("INFO", "processed queue batch of {n} messages from {queue}"),
    ("INFO", "acked message {uuid} from {queue}"),
    ("INFO", "collected {count} events from {ip}"),
    ("INFO", "flushed {count} rows to {table} in {ms}ms"),
    ("INFO", "token issued for client {hex} (scope read write)"),
    ("INFO", "jwks rotated, new key id {hex}"),
    ("INFO", "cart {id} now has {n} items"),
    ("INFO", "coupon '{flag}' applied to cart {id}: -{amount} USD"),
    ("INFO", "webhook delivered to https://{host}/hooks/{id} in {ms}ms"),
    ("INFO", "preferences updated for {user}: {n} keys"),
    ("INFO", "new signup {email} from {ip}"),
    ("INFO", "team invite sent to {email} by {person}"),
    ("INFO", "billing run charged {count} subscriptions, {amount} USD total"),
    ("INFO", "deployment {ver} serving traffic in {colo}"),
    ("INFO", "rate limit window reset for {key}"),
    ("INFO", "stock level for {sku} is {count}"),
    ("INFO", "generated signed url for '{file}' valid {n}m"),
    ("INFO", "websocket {hex} connected from {ip}"),
    ("WARN", "upstream {host} slow: {ms}ms"),
    ("WARN", "retrying request to {host} after {status} (attempt {n})"),
    ("WARN", "rate limit exceeded for {ip} on {path}"),
    ("WARN", "rate limit at {pct}% for {key}"),
    ("WARN", "KV get {key} returned stale value (age {sec}s)"),
    ("WARN", "request body too large: {bytes} bytes"),
    ("WARN", "invalid JSON from {ip}: unexpected token at position {n}"),
    ("WARN", "missing header authorization on {path}"),
    ("WARN", "deprecated api version {ver} used by {user}"),
    ("WARN", "login failed for {email} from {ip}"),
    ("WARN", "too many login attempts for {email}, locking for {n}m"),
    ("WARN", "payment {uuid} requires 3DS verification"),
    ("WARN", "card declined for order {id}: insufficient funds"),
    ("WARN", "queue {queue} backlog at {count} messages"),
    ("WARN", "message {uuid} redelivered {n} times"),
    ("WARN", "cpu time {ms}ms close to limit"),
    ("WARN", "memory usage at {pct}% of limit"),
    ("WARN", "image '{file}' exceeds max dimensions, downscaling"),
    ("WARN", "search index {ver} is {sec}s behind"),
    ("WARN", "inventory for {sku} below threshold ({n} left)"),
    ("WARN", "clock skew of {ms}ms detected against {host}"),
    ("WARN", "jwt for {user} expires in {n}s, refreshing"),
    ("WARN", "webhook to https://{host}/hooks/{id} returned {status}"),
    ("WARN", "durable object {hex} storage at {pct}% capacity"),
    ("WARN", "cache purge for {path} took {ms}ms"),
    ("WARN", "ignoring unknown field '{field}' in payload"),
    ("WARN", "email to {email} bounced"),
    ("WARN", "geo lookup failed for {ip}"),
    ("WARN", "connection pool exhausted, waited {ms}ms"),
    ("ERROR", "unhandled exception in {method} {path}"),
    ("ERROR", "upstream {host} returned {status} after {ms}ms"),
    ("ERROR", "failed to connect to {host}:{port}"),
    ("ERROR", "D1 query on {table} failed: {dberr}"),
    ("ERROR", "KV put {key} failed"),
    ("ERROR", "R2 object '{file}' not found"),
    ("ERROR", "payment {uuid} failed: gateway timeout after {ms}ms"),
    ("ERROR", "could not charge subscription {id}: card expired"),
    ("ERROR", "queue message {uuid} moved to dead letter queue after {n} attempts"),
    ("ERROR", "cron batch {uuid} aborted after {sec}s"),
    ("ERROR", "worker exceeded cpu limit on {path} ({ms}ms)"),
    ("ERROR", "invalid signature on webhook from {ip}"),
    ("ERROR", "failed to send email to {email}: {status}"),
    ("ERROR", "jwks fetch from {host} failed"),
    ("ERROR", "image decode failed for '{file}'"),
    ("ERROR", "search backend {host} unavailable"),
    ("ERROR", "inventory sync conflict on {sku}: expected {n} got {n}"),
    ("ERROR", "response serialization failed for {path}"),
    ("ERROR", "auth token rejected for {user}: signature mismatch"),
    ("ERROR", "request to {host} aborted by client {ip}"),
)

# Agent-server logs (written by the agent frameworks).
_AGENT = (
    ("DEBUG", "agent {agent} loaded {n} tools"),
    ("DEBUG", "prompt assembled: {count} tokens, {n} messages"),
    ("DEBUG", "tool call {hex} arguments validated"),
    ("DEBUG", "streaming response chunk {n} ({bytes} bytes)"),
    ("DEBUG", "memory lookup for conversation {uuid} returned {n} items"),
    ("DEBUG", "mcp session {hex} initialized with {n} tools"),
    ("INFO", "agent {agent} turn started for {user}"),
    ("INFO", "agent {agent} turn completed in {ms}ms"),
    ("INFO", "model {model} answered in {ms}ms"),
    ("INFO", "tool {tool} returned {count} results in {ms}ms"),
    ("INFO", "conversation {uuid} resumed with {n} prior turns"),
    ("INFO", "handoff from {agent} to {agent}"),
    ("INFO", "guardrail passed for turn {hex}"),
    ("INFO", "summarised {count} tokens of history"),
    ("WARN", "model {model} rate limited, backing off {ms}ms"),
    ("WARN", "tool {tool} slow: {ms}ms"),
    ("WARN", "context window at {pct}% for conversation {uuid}"),
    ("WARN", "guardrail flagged turn {hex}: pii detected"),
    ("WARN", "max iterations ({n}) reached, forcing final answer"),
    ("WARN", "tool {tool} returned empty result"),
    ("ERROR", "model {model} call failed after {n} retries"),
    ("ERROR", "tool {tool} raised an exception"),
    ("ERROR", "agent {agent} turn failed for {user}"),
    ("ERROR", "mcp server disconnected during tools/call {hex}"),
)

BUDGET_BODIES = {
    "generation": "budget debit for generation",
    "tool_call": "budget debit for tool call",
    "topup": "budget credit top-up",
}

# Exceptions on error logs and failed spans: (exception.type, message template).
EXCEPTIONS = (
    ("TypeError", "Cannot read properties of undefined (reading '{field}')"),
    ("Error", "Network connection lost."),
    ("Error", "upstream {host} responded {status}"),
    ("RangeError", "Maximum call stack size exceeded"),
    ("SyntaxError", "Unexpected token < in JSON at position {n}"),
    ("TimeoutError", "operation timed out after {ms}ms"),
    ("D1_ERROR", "no such table: {table}"),
    ("KVError", "KV GET failed for {key}"),
    ("DatabaseError", "{dberr} on {table}"),
    ("ConnectionError", "connect ECONNREFUSED {ip}:{port}"),
    ("AuthError", "invalid token for {user}"),
    ("ValidationError", "'{field}' is required"),
    ("StripeCardError", "card_declined for payment {uuid}"),
    ("QuotaExceededError", "quota exceeded for {key}"),
)
CPU_EXCEPTION = ("Error", "Worker exceeded CPU time limit.")
CANCEL_EXCEPTION = ("AbortError", "The operation was aborted")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Template:
    """A compiled template: ``fmt.format(*(draw(rng) for draw in draws))`` renders it."""

    level: str
    text: str
    fmt: str
    draws: tuple[Draw, ...]
    pattern: str  # the template as a pattern miner should recover it: placeholders -> <*>

    def render(self, r: random.Random) -> str:
        """One message with fresh variable parts."""
        return self.fmt.format(*[d(r) for d in self.draws])


def _compile(level: str, text: str) -> Template:
    kinds = _PLACEHOLDER.findall(text)
    fmt = _PLACEHOLDER.sub("{}", text.replace("{{", "(").replace("}}", ")"))
    return Template(level, text, fmt, tuple(VARS[k] for k in kinds), _PLACEHOLDER.sub("<*>", text))


def _expand() -> tuple[list[Template], list[Template]]:
    worker = [_compile(lv, t.replace("{E}", e)) for lv, t in _FAMILIES for e in _ENTITIES]
    worker += [_compile(lv, t) for lv, t in _WORKER]
    agent = [_compile(lv, t) for lv, t in _AGENT]
    return worker, agent


WORKER_TEMPLATES, AGENT_TEMPLATES = _expand()
EXCEPTION_TEMPLATES = tuple((t, _compile("ERROR", m)) for t, m in EXCEPTIONS)


class TemplatePool:
    """Templates of one pool grouped by level, each level drawn with Zipf-like weights."""

    def __init__(self, templates: list[Template], exponent: float = 0.7) -> None:
        self.by_level: dict[str, tuple[list[Template], list[float]]] = {}
        for level in ("DEBUG", "INFO", "WARN", "ERROR"):
            ts = [t for t in templates if t.level == level]
            # A fixed shuffle (not the generation seed) decides which lines are the common ones.
            random.Random(level).shuffle(ts)
            cum, acc = [], 0.0
            for rank in range(len(ts)):
                acc += 1.0 / (rank + 1) ** exponent
                cum.append(acc)
            self.by_level[level] = (ts, cum)

    def choose(self, level: str, x: float) -> Template:
        """The template for a uniform draw ``x`` in [0, 1)."""
        ts, cum = self.by_level[level]
        return ts[min(bisect(cum, x * cum[-1]), len(ts) - 1)]


def all_patterns() -> list[str]:
    """Every message template the generator can emit, as ``<*>`` patterns (log bodies)."""
    out = [t.pattern for t in WORKER_TEMPLATES + AGENT_TEMPLATES]
    return out + list(BUDGET_BODIES.values())
