"""The web UI: the explorer (``telequery/ui/index.html`` and its ES modules in
``telequery/ui/app``, no build step) over the public APIs, and the API documentation pages
(``/docs``, ``/redoc``); every asset is served from the package (``telequery/ui/vendor``,
from npm), so all of it works without internet. See docs/ui.md."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "ui" / "index.html"
VENDOR = PAGE.parent / "vendor"
APP = PAGE.parent / "app"
ASSETS = "/ui/vendor"


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/ui")
async def ui() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="telequery API",
        swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title="telequery API",
                          redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
                          with_google_fonts=False)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=VENDOR), name="vendor")
    app.mount("/ui/app", StaticFiles(directory=APP), name="explorer")
