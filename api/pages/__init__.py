"""Server-rendered pages for people with only a browser: the public registry, the pledger's pages, staff review.

One router per audience; all of them render through :mod:`api.pages.rendering` (autoescaping, CSRF,
security headers) and answer errors as pages (:mod:`api.pages.routing`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages import pledger, public, staff, statistics

STATIC = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(public.router)
    app.include_router(statistics.router)
    app.include_router(pledger.router)
    app.include_router(staff.router)
