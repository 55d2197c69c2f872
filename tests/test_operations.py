"""Running it for real: retention on both engines, the token lifecycle on every API,
readiness that follows the store, and /metrics that a Prometheus parser reads."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ENGINES, make_store, serve
from otlp_build import Log, Span, logs_request, traces_request
from telequery.ingest.mapping import logs_to_rows, spans_to_rows
from telequery.meta import Meta
from telequery.retention import sweep
from telequery.store.duckdb import DuckDBStore

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = 86_400 * 10**9


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9


def rows(org: str, ages_days: list[float], *, kind: str = "span",
         dataset: str | None = None, pad: bool = False) -> pa.Table:
    """One row per age (days before NOW), as ingest maps them; ``pad``: an incompressible
    attribute, so the rows take real space on disk."""
    resource = {"telequery.dataset": dataset} if dataset else {}
    if kind == "span":
        req = traces_request(
            Span("svc", f"op {i}", _ns(NOW) - int(age * DAY), 1000, (i + 1).to_bytes(16, "big"),
                 (i + 1).to_bytes(8, "big"), resource=resource,
                 attrs={"pad": os.urandom(48).hex()} if pad else {})
            for i, age in enumerate(ages_days))
        return spans_to_rows(req, org).table()
    req = logs_request(Log("svc", f"line {i}", _ns(NOW) - int(age * DAY), resource=resource)
                       for i, age in enumerate(ages_days))
    return logs_to_rows(req, org).table()


def counts(store, org: str) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    res = store.execute("SELECT dataset, kind, count(*) FROM events WHERE org_id = $o "
                        "GROUP BY 1, 2" if store.dialect.name == "duckdb" else
                        "SELECT dataset, kind, count() FROM events WHERE org_id = {o:String} "
                        "GROUP BY 1, 2", {"o": org})
    return {(d, k): int(n) for d, k, n in res.rows}


AGES = [0.5, 6.9, 7.1, 29.9, 30.1, 89, 91, 200]


@pytest.mark.parametrize("engine", ENGINES)
def test_retention_deletes_exactly_the_expired_rows(tmp_path: Path, engine: str) -> None:
    store = make_store(engine, tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    for org in ("a", "b", "keep"):
        store.append(pa.concat_tables([rows(org, AGES), rows(org, AGES, kind="log"),
                                       rows(org, AGES, dataset="audit")]))
    meta.set_retention("*", "*", "log", 7)      # logs 7 days, every org
    meta.set_retention("b", "*", "*", 90)       # org b keeps 90 days (logs too)
    meta.set_retention("a", "audit", "*", 200.5)  # one dataset of org a, longer
    result = sweep(store, meta, 30, now=NOW)    # default 30 days
    kept = {org: counts(store, org) for org in ("a", "b", "keep")}

    def within(days: float) -> int:
        return sum(1 for age in AGES if age < days)

    assert kept["a"] == {("otel", "span"): within(30), ("otel", "log"): within(7),
                         ("audit", "span"): within(200.5)}
    assert kept["b"] == {("otel", "span"): within(90), ("otel", "log"): within(90),
                         ("audit", "span"): within(90)}
    assert kept["keep"] == {("otel", "span"): within(30), ("otel", "log"): within(7),
                            ("audit", "span"): within(30)}
    expected = 3 * len(AGES) * 3 - sum(sum(v.values()) for v in kept.values())
    assert result.deleted == expected
    assert sweep(store, meta, 30, now=NOW).deleted == 0  # idempotent
    store.close()
    meta.close()


def test_duckdb_file_shrinks_after_a_sweep(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "duck")
    meta = Meta(tmp_path / "meta.sqlite")
    store.append(rows("a", [40 + i / 10_000 for i in range(20_000)], pad=True))
    store.append(rows("a", [1.0] * 100))
    store.checkpoint()
    result = sweep(store, meta, 30, now=NOW)
    assert result.deleted == 20_000 and result.compacted
    assert result.bytes_after < result.bytes_before / 2, result
    assert counts(store, "a") == {("otel", "span"): 100}
    store.append(rows("a", [0.1]))  # still writable after the file was swapped
    assert counts(store, "a") == {("otel", "span"): 101}
    store.close()


def _apis(url: str, token: str) -> dict[str, int]:
    """The status each API answers ``token`` with."""
    h = {"authorization": f"Bearer {token}"}
    now = int(time.time() * 1000)
    calls = {
        "otlp": ("POST", "/v1/traces", {"content": b"", "headers": {
            **h, "content-type": "application/x-protobuf"}}),
        "ndjson": ("POST", "/v1/events", {"content": b'{"message": "x"}\n', "headers": h}),
        "native": ("POST", "/api/v1/query", {"json": {
            "from": now - 60_000, "to": now, "measures": [{"agg": "count"}]}, "headers": h}),
        "workers": ("POST", "/client/v4/accounts/o/workers/observability/telemetry/keys",
                    {"json": {"timeframe": {"from": now - 60_000, "to": now}}, "headers": h}),
        "gateway": ("POST", "/api/svc/v1/llm-gateway/metrics/query", {"json": {
            "startTs": "2026-01-01T00:00:00Z", "endTs": "2026-01-02T00:00:00Z",
            "datasource": "modelMetrics", "type": "distribution",
            "aggregations": [{"type": "count"}]}, "headers": h}),
        "reports": ("GET", "/api/v1/reports/catalog", {"headers": h}),
        "admin": ("GET", "/api/v1/tokens", {"headers": h}),
    }
    return {name: httpx.request(method, url + path, timeout=30, **kw).status_code
            for name, (method, path, kw) in calls.items()}


def test_revoked_and_expired_tokens_get_401_on_every_api(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta) as live:
        admin = live.token("o")
        fine = _apis(live.url, admin)
        assert all(s in (200, 400) for s in fine.values()), fine
        # create through the admin API, use it, revoke it through the API
        r = httpx.post(live.url + "/api/v1/tokens", json={"name": "ci", "scopes": ["query"]},
                       headers={"authorization": f"Bearer {admin}"})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["token"].startswith("tq_") and made["active"]
        short = made["token"]
        assert httpx.post(live.url + "/api/v1/query", json={
            "from": 0, "to": 1, "measures": [{"agg": "count"}]},
            headers={"authorization": f"Bearer {short}"}).status_code == 200
        listed = httpx.get(live.url + "/api/v1/tokens",
                           headers={"authorization": f"Bearer {admin}"}).json()["tokens"]
        mine = next(t for t in listed if t["id"] == made["id"])
        assert mine["last_used"] is not None and "token" not in mine
        r = httpx.delete(live.url + f"/api/v1/tokens/{made['id']}",
                         headers={"authorization": f"Bearer {admin}"})
        assert r.status_code == 200
        assert set(_apis(live.url, short).values()) == {401}
        # another org's admin cannot see or revoke this org's tokens
        other = live.token("other")
        r = httpx.delete(live.url + f"/api/v1/tokens/{mine['id']}",
                         headers={"authorization": f"Bearer {other}"})
        assert r.status_code == 404
        theirs = httpx.get(live.url + "/api/v1/tokens",
                           headers={"authorization": f"Bearer {other}"}).json()["tokens"]
        assert {t["id"] for t in theirs}.isdisjoint(t["id"] for t in listed)
        # revoked from another process (the CLI's own connection): refused at once
        victim = live.token("o")
        assert _apis(live.url, victim)["native"] == 200
        victim_id = meta.list_tokens("o")[0].id
        cli_meta = Meta(tmp_path / "meta.sqlite")
        assert cli_meta.revoke_token(victim_id)
        cli_meta.close()
        assert set(_apis(live.url, victim).values()) == {401}
        # expired
        soon = meta.create_token("o", ["ingest", "query", "admin"],
                                 expires=datetime.now(UTC) + timedelta(seconds=1))
        assert _apis(live.url, soon)["native"] == 200
        time.sleep(1.2)
        assert set(_apis(live.url, soon).values()) == {401}
        bad = httpx.post(live.url + "/api/v1/tokens", json={"scopes": ["root"]},
                         headers={"authorization": f"Bearer {admin}"})
        assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"]
    store.close()
    meta.close()


def test_readyz_follows_the_store_and_metrics_move_with_traffic(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    assert isinstance(store, DuckDBStore)
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta) as live:
        token = live.token("o")
        assert httpx.get(live.url + "/readyz").status_code == 200

        def scrape() -> dict[str, float]:
            r = httpx.get(live.url + "/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            out: dict[str, float] = {}
            for family in text_string_to_metric_families(r.text):
                for s in family.samples:
                    key = s.name + "".join(f"|{k}={v}" for k, v in sorted(s.labels.items()))
                    out[key] = s.value
            return out

        before = scrape()
        body = traces_request(Span("svc", "op", _ns(NOW), 1000, (7).to_bytes(16, "big"),
                                   (7).to_bytes(8, "big")) for _ in range(1))
        r = httpx.post(live.url + "/v1/traces", content=body.SerializeToString(), headers={
            "authorization": f"Bearer {token}", "content-type": "application/x-protobuf"})
        assert r.status_code == 200
        assert httpx.post(live.url + "/api/v1/query", json={
            "from": 0, "to": int(time.time() * 1000) + 1, "measures": [{"agg": "count"}]},
            headers={"authorization": f"Bearer {token}"}).json()["rows"] == [[1]]
        after = scrape()
        assert after["telequery_ingest_rows_acknowledged_total"] == \
            before["telequery_ingest_rows_acknowledged_total"] + 1
        assert after["telequery_ingest_rows_applied_total"] >= 1
        key = "telequery_http_requests_total|method=POST|route=/v1/traces|status=200"
        assert after[key] == before.get(key, 0) + 1
        q = "telequery_query_duration_seconds_count|route=/api/v1/query"
        assert after[q] == before.get(q, 0) + 1
        assert after["telequery_store_bytes"] > 0 and after["telequery_ready"] == 1

        # the store fails: not ready at once, queries 503 at once, then it recovers
        store._failed(RuntimeError("simulated fatal error"))
        t0 = time.monotonic()
        r = httpx.get(live.url + "/readyz")
        assert r.status_code == 503 and "simulated" in r.text and r.headers["retry-after"]
        r = httpx.post(live.url + "/api/v1/query", json={
            "from": 0, "to": 1, "measures": [{"agg": "count"}]},
            headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
        assert time.monotonic() - t0 < 5
        deadline = time.monotonic() + 10
        while httpx.get(live.url + "/readyz").status_code != 200:
            assert time.monotonic() < deadline, "never ready again"
            time.sleep(0.2)
        assert httpx.post(live.url + "/api/v1/query", json={
            "from": 0, "to": int(time.time() * 1000) + 1, "measures": [{"agg": "count"}]},
            headers={"authorization": f"Bearer {token}"}).json()["rows"] == [[1]]
    store.close()
    meta.close()


def test_tokens_never_appear_in_the_server_log_or_on_disk(tmp_path: Path) -> None:
    from conftest import free_port, start_server

    data = tmp_path / "data"
    data.mkdir()
    meta = Meta(data / "meta.sqlite")
    good = meta.create_token("o", ["ingest", "query", "admin"])
    revoked = meta.create_token("o", ["query"])
    meta.revoke_token(meta.list_tokens("o")[0].id)
    meta.close()
    wrong = "tq_" + "x" * 43
    log = tmp_path / "server.log"
    port = free_port()
    proc = start_server(data, port, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for token in (good, revoked, wrong):
            for header in ({"authorization": f"Bearer {token}"}, {"x-api-key": token},
                           {"authorization": token}):
                httpx.post(url + "/api/v1/query", json={"from": 0, "to": 1}, headers=header)
                httpx.post(url + "/v1/traces", content=b"\xff garbage", headers={
                    **header, "content-type": "application/x-protobuf"})
                httpx.post(url + "/v1/events", content=b"not json\n", headers=header)
                httpx.get(url + "/api/v1/tokens", headers=header)
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    stored = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    for token in (good, revoked, wrong):
        assert token not in text
        assert token.encode() not in stored


@pytest.mark.parametrize("engine", ENGINES)
def test_an_admins_sweep_touches_its_own_org_only(tmp_path: Path, engine: str) -> None:
    """``POST /api/v1/retention/sweep`` by one org's admin deletes that org's expired rows
    and nobody else's, and cannot be repeated to keep the store scanning (issue 29)."""

    store = make_store(engine, tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    for org in ("a", "b"):
        store.append(rows(org, AGES))
    meta.set_retention("*", "*", "*", 7)  # every org: a week
    try:
        with serve(store, meta, retention_every=10**6) as live:
            admin = {"authorization": f"Bearer {live.token('a', ('admin',))}"}
            r = httpx.post(live.url + "/api/v1/retention/sweep", headers=admin, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["deleted"] == sum(1 for age in AGES if age >= 7)
            assert {g["org"] for g in r.json()["groups"]} == {"a"}
            r = httpx.post(live.url + "/api/v1/retention/sweep", headers=admin, timeout=60)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
            assert counts(store, "a") == {("otel", "span"): sum(1 for age in AGES if age < 7)}
            assert counts(store, "b") == {("otel", "span"): len(AGES)}  # untouched
    finally:
        store.close()
        meta.close()
