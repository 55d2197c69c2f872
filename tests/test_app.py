"""The app starts, answers health and serves its OpenAPI docs."""

from __future__ import annotations

from pathlib import Path

import httpx

from conftest import make_store, serve
from telequery.meta import Meta


def test_health_and_docs(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    with serve(store, meta) as live:
        health = httpx.get(live.url + "/healthz").json()
        assert health["status"] == "ok" and health["engine"] == "duckdb"
        assert httpx.get(live.url + "/docs").status_code == 200
        spec = httpx.get(live.url + "/openapi.json").json()
        assert spec["info"]["title"] == "telequery"
        missing = httpx.get(live.url + "/no/such/path")
        assert missing.status_code == 404 and "Traceback" not in missing.text
