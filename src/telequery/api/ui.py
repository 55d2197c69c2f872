"""The web UI: one static page (``telequery/ui/index.html``) over the public APIs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "ui" / "index.html"


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/ui")
async def ui() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui")


def install(app: FastAPI) -> None:
    app.include_router(router)
