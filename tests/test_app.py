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


def test_meta_trim_keeps_the_newest_of_one_kind_and_org(tmp_path: Path) -> None:
    meta = Meta(tmp_path / "meta.sqlite")
    try:
        ids = [meta.put("run", "a", "q", {"i": i}, durable=False).id for i in range(7)]
        meta.put("run", "b", "q", {})
        meta.put("saved", "a", "q", {})
        assert meta.trim("run", "a", 10) == 0
        assert meta.trim("run", "a", 3) == 4
        assert {d.id for d in meta.list("run", "a")} == set(ids[-3:])  # the newest three
        assert meta.count("run", "b") == 1 and meta.count("saved", "a") == 1
        assert meta.trim("run", "a", 0) == 3 and meta.count("run", "a") == 0
    finally:
        meta.close()


def test_the_api_docs_need_no_internet(tmp_path: Path) -> None:
    """/docs and /redoc load their scripts and styles from the package, not a CDN."""
    store = make_store("duckdb", tmp_path)
    meta = Meta(tmp_path / "meta.sqlite")
    try:
        with serve(store, meta) as live:
            for page, assets in (
                    ("/docs", ["/ui/vendor/swagger-ui/swagger-ui-bundle.js",
                               "/ui/vendor/swagger-ui/swagger-ui.css"]),
                    ("/redoc", ["/ui/vendor/redoc/redoc.standalone.js"])):
                html = httpx.get(live.url + page).text
                assert "https://" not in html and "http://" not in html, page
                for asset in assets:
                    assert asset in html
                    r = httpx.get(live.url + asset)
                    assert r.status_code == 200 and len(r.content) > 10_000, asset
            assert httpx.get(live.url + "/openapi.json").status_code == 200
    finally:
        store.close()
        meta.close()
