"""Everruns' reporting operator operations (upstream ``openapi/openapi.json``:
``get_diagnostics``, ``backfill_reporting``, ``run_projector``) with telequery's meaning
(docs/datasets.md): the projector is the writer's apply step, its lag and outbox the
acknowledged rows not yet applied and the org's destination queues. Admin only, 405 for
the methods upstream does not declare, on both engines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ENGINES, LiveServer, serve_new
from otlp_build import Span, traces_request
from telequery.ingest.writer import keeps_log
from telequery.query.datasets.reports import REPORTS

ORG = "acme"
BASE = "/api/v1/reports"


@pytest.fixture(params=ENGINES)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    # rows wait up to a minute in the ingest log before they are applied (unless asked)
    with serve_new(request.param, tmp_path, apply_delay=60.0, read_your_writes=None) as s:
        yield s


def _auth(live: LiveServer, scopes: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    return {"authorization": f"Bearer {live.token(ORG, scopes)}"}


def _ingest(live: LiveServer, n: int) -> None:
    spans = [Span("svc", f"op {i}", time.time_ns() - 10**9 + i * 1000, 1000,
                  (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")) for i in range(n)]
    r = httpx.post(live.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={**_auth(live, ("ingest",)),
                            "content-type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text


def _diagnostics(live: LiveServer) -> dict:
    r = httpx.get(live.url + BASE + "/admin/diagnostics", headers=_auth(live), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_projector_applies_what_reports_lag_behind(live: LiveServer) -> None:
    before = _diagnostics(live)
    assert [d["dataset"] for d in before["projector_lag"]] == list(REPORTS)
    assert before["outbox"]["pending"] == 0 and before["outbox"]["oldest_pending_at"] is None
    assert set(before["outbox"]) >= {"pending", "processing", "failed", "completed",
                                     "failed_rows"}
    _ingest(live, 5)
    _ingest(live, 3)
    # DuckDB acknowledges once rows are in the ingest log and applies them later; ClickHouse
    # acknowledges once its insert committed, so nothing is ever pending there
    logged = keeps_log(live.store)
    waiting = _diagnostics(live)["outbox"]
    assert waiting["pending"] == (2 if logged else 0)
    assert bool(waiting["oldest_pending_at"]) == logged
    r = httpx.post(live.url + BASE + "/projector/run", headers=_auth(live), timeout=60)
    assert r.status_code == 200, r.text
    n = 2 if logged else 0
    assert r.json() == {"claimed": n, "completed": n, "failed": 0}
    after = _diagnostics(live)
    assert after["outbox"]["pending"] == 0
    lag = after["projector_lag"][0]
    assert lag["latest_projected_at"] and lag["freshness_lag_ms"] >= 0
    # the rows are where reports read them
    r = httpx.post(live.url + "/api/v1/sql", headers=_auth(live, ("query",)), timeout=30,
                   json={"sql": "SELECT count(*) FROM spans"})
    assert r.json()["rows"] == [[8]]
    assert httpx.post(live.url + BASE + "/projector/run", headers=_auth(live)).json() == \
        {"claimed": 0, "completed": 0, "failed": 0}


def test_backfill_has_nothing_to_enqueue(live: LiveServer) -> None:
    for body in ({}, {"limit": 5000}, {"limit": -1}):  # an int64, as upstream types it
        r = httpx.post(live.url + BASE + "/admin/backfill", headers=_auth(live), json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"enqueued": 0, "events": 0, "sessions": 0, "llm_generations": 0,
                            "usage_ledger": 0}
    for body in ({"limit": 2**63}, {"limit": "many"}, {"limit": 1.5}):
        r = httpx.post(live.url + BASE + "/admin/backfill", headers=_auth(live), json=body)
        assert r.status_code == 400, (body, r.text)
    r = httpx.post(live.url + BASE + "/admin/backfill", headers=_auth(live))
    assert r.status_code == 400, r.text  # the body is required, as upstream


def test_operators_only_and_only_the_declared_methods(live: LiveServer) -> None:
    viewer = _auth(live, ("query",))
    for method, path in (("GET", "/admin/diagnostics"), ("POST", "/admin/backfill"),
                         ("POST", "/projector/run")):
        r = httpx.request(method, live.url + BASE + path, headers=viewer, json={})
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    for method, path in (("POST", "/admin/diagnostics"), ("GET", "/admin/backfill"),
                         ("GET", "/projector/run"), ("DELETE", "/projector/run")):
        r = httpx.request(method, live.url + BASE + path, headers=_auth(live))
        assert r.status_code == 405, (method, path, r.text)
    r = httpx.post(live.url + BASE + f"/projector/run?limit={2**63}", headers=_auth(live))
    assert r.status_code == 400
    r = httpx.post(live.url + BASE + "/projector/run?limit=0", headers=_auth(live))
    assert r.json() == {"claimed": 0, "completed": 0, "failed": 0}


def test_an_orgs_diagnostics_and_projector_see_its_own_rows_only(live: LiveServer) -> None:
    """Another org's pending rows are not this org's outbox, nor claimed by its run."""
    other = "globex"
    spans = [Span("svc", f"op {i}", time.time_ns() - 10**9 + i * 1000, 1000,
                  (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")) for i in range(4)]
    r = httpx.post(live.url + "/v1/traces", content=traces_request(spans).SerializeToString(),
                   headers={"authorization": f"Bearer {live.token(other, ('ingest',))}",
                            "content-type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 200, r.text
    mine = _diagnostics(live)
    assert mine["outbox"]["pending"] == 0 and mine["outbox"]["oldest_pending_at"] is None
    assert mine["projector_lag"][0]["latest_projected_at"] is None  # nothing of ours yet
    r = httpx.post(live.url + BASE + "/projector/run", headers=_auth(live), timeout=60)
    assert r.json() == {"claimed": 0, "completed": 0, "failed": 0}
    theirs = httpx.get(live.url + BASE + "/admin/diagnostics", timeout=30, headers={
        "authorization": f"Bearer {live.token(other, ('admin',))}"}).json()
    assert theirs["outbox"]["pending"] == (1 if keeps_log(live.store) else 0)
