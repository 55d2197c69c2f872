"""The explorer's files are served (no build step, no CDN), and the call it starts with
answers for the token's org. What the page does is tests/test_ui_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from conftest import make_store, serve
from telequery.api.ui import APP
from telequery.meta import Meta


def test_ui_page_modules_and_whoami(tmp_path: Path) -> None:
    store = make_store("duckdb", tmp_path)
    with serve(store, Meta(tmp_path / "meta.sqlite")) as live:
        root = httpx.get(live.url + "/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/ui"
        page = httpx.get(live.url + "/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text)
        assert "/ui/app/main.js" in assets and "/ui/vendor/uplot/uPlot.iife.min.js" in assets
        # Every module the page imports, and every module they import, is served from here.
        for js in APP.glob("*.js"):
            assets += re.findall(r'from "(/ui/[^"]+)"', js.read_text())
            assets += [f"/ui/app/{m}" for m in re.findall(r'from "\./([^"]+)"', js.read_text())]
        for url in sorted(set(assets)):
            r = httpx.get(live.url + url)
            assert r.status_code == 200, url
            if url.endswith(".js"):
                assert "javascript" in r.headers["content-type"], url
        assert not re.search(r"https?://(?!127\.0\.0\.1)", page.text)  # no CDN, no internet
        token = live.token("acme", ("query",))
        me = httpx.get(live.url + "/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"org": "acme", "scopes": ["query"]}
        assert httpx.get(live.url + "/api/v1/whoami").status_code == 401
    store.close()
