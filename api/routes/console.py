"""The web console: one page for operators, dispatchers and analysts, served by the API itself.

Everything it needs (HTML, CSS, JS modules) ships in `api/static/`, so it runs on an intranet with no CDN
and no build step. The page holds no data: it signs in with an API token and calls `/v1/*` like any client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
STATIC_PATH = "/static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""Only the page's own files run: a transcript that slipped into the DOM as HTML still could not execute."""

router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    """The console's assets, for `app.mount(STATIC_PATH, ...)`."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
def console() -> FileResponse:
    """The page; `no-store` so a new release is never mixed with a cached old script."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
