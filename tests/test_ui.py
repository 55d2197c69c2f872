"""The web UI page is served, and the calls it makes answer for the token's org."""

from __future__ import annotations

from pathlib import Path

import httpx

from conftest import make_store, serve
from telequery.meta import Meta


def test_ui_page_and_whoami(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    with serve(store, Meta(tmp_path / "meta.sqlite")) as live:
        root = httpx.get(live.url + "/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/ui"
        page = httpx.get(live.url + "/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for tab in ("overview", "events", "traces", "agents", "patterns"):
            assert f'data-tab="{tab}"' in page.text
        # The page calls the Workers Observability API and the trace-detail extension.
        assert "/workers/observability/telemetry/query" in page.text
        token = live.token("acme", ("query",))
        me = httpx.get(live.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"org": "acme", "scopes": ["query"]}
        assert httpx.get(live.url + "/api/v1/whoami").status_code == 401
    store.close()
