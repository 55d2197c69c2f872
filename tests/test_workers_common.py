"""Shared data and oracle helpers for the Workers Observability API tests (no tests here).

Data: synthetic telemetry for org ``acme`` on 2025-01-01 (the window under test) and
2024-12-31 (the compare window), a few hand-built sampled logs (sample interval 4) in
dataset ``sampled``, and other telemetry for org ``globex`` that must never show up.
The oracle reads the stored rows back with plain SQL and answers in plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudflare import Cloudflare

from conftest import LiveServer, make_store, serve
from otlp_build import Log, logs_request
from telequery import semconv as sc
from telequery.ingest.load import load
from telequery.meta import Meta
from telequery.synth import generate

DAY = datetime(2025, 1, 1, tzinfo=UTC)
FROM = int(DAY.timestamp() * 1000)
TO = FROM + 86_400_000
PREV_FROM = FROM - 86_400_000
ORG, OTHER = "acme", "globex"


def sampled_logs() -> list[Log]:
    """20 logs with sample interval 4 and typed attributes, 3 request ids."""
    out = []
    for i in range(20):
        t = DAY + timedelta(hours=1 + i, minutes=7)
        out.append(Log(
            service="sampler", body=f"Sampled Work item {i} took {10 + i} ms",
            time_ns=int(t.timestamp() * 1e9), severity="ERROR" if i % 5 == 0 else "INFO",
            attrs={sc.SAMPLE_INTERVAL: 4.0, "work.ms": float(10 + i), "work.ok": i % 3 != 0,
                   "work.kind": ["alpha", "beta"][i % 2], sc.FAAS_INVOCATION_ID: f"req-{i % 3}"},
            resource={sc.DATASET: "sampled"}))
    return out


@contextmanager
def workers_server(tmp: Path, engine: str = "duckdb") -> Iterator[LiveServer]:
    store = make_store(engine, tmp)
    meta = Meta(tmp / "meta.sqlite")
    load(store, ORG, generate(7, 2500, DAY, DAY + timedelta(days=1)))
    load(store, ORG, generate(8, 800, DAY - timedelta(days=1), DAY))
    load(store, ORG, [logs_request(sampled_logs())])
    load(store, OTHER, generate(9, 600, DAY, DAY + timedelta(days=1)))
    try:
        with serve(store, meta) as live:
            yield live
    finally:
        meta.close()
        store.close()


def client(live: LiveServer, token: str, strict: bool = True) -> Cloudflare:
    # Strict: the SDK validates every response against its generated pydantic models.
    return Cloudflare(api_token=token, base_url=live.url + "/client/v4", max_retries=0,
                      _strict_response_validation=strict)


def rows(live: LiveServer, org: str = ORG, start_ms: int = FROM, end_ms: int = TO
         ) -> list[dict]:
    """Stored rows of ``org`` in ``[start, end)`` as dicts (the oracle's input)."""
    r = live.store.execute("SELECT * FROM events")  # plain SQL, filtered here
    out = []
    for values in r.rows:
        row = dict(zip(r.columns, values, strict=True))
        t = ms(row["timestamp"])
        if row["org_id"] == org and start_ms <= t < end_ms:
            out.append(row)
    return out


def ms(t: datetime) -> int:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def us(t: datetime) -> int:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def weighted(rs: list[dict]) -> float:
    return float(sum(r["sample_interval"] for r in rs))


def quantile(xs: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, DuckDB quantile_cont)."""
    xs = sorted(xs)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stat(op: str, xs: list[float], ws: list[float]) -> float | None:
    """Expected value of a numeric calculation (weights = sample intervals)."""
    quantiles = {"median": 0.5, "p001": 0.001, "p01": 0.01, "p05": 0.05, "p10": 0.1,
                 "p25": 0.25, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99,
                 "p999": 0.999}
    op = op.lower()
    if not xs:
        return 0.0 if op == "sum" else None
    if op == "sum":
        return sum(x * w for x, w in zip(xs, ws, strict=True))
    if op == "avg":
        return sum(x * w for x, w in zip(xs, ws, strict=True)) / sum(ws)
    if op == "min":
        return min(xs)
    if op == "max":
        return max(xs)
    if op in quantiles:
        return quantile(xs, quantiles[op])
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else None
    if op == "variance":
        return var
    if op == "stddev":
        return math.sqrt(var) if var is not None else None
    raise AssertionError(op)


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    a = 0.0 if a is None else a
    b = 0.0 if b is None else b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def group_by(rs: list[dict], key: Callable[[dict], object]) -> dict[object, list[dict]]:
    out: dict[object, list[dict]] = {}
    for r in rs:
        out.setdefault(key(r), []).append(r)
    return out
