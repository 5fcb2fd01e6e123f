"""The web console under `/ui/`: server-rendered pages (Jinja2) with htmx for partial updates,
both served from the package (no CDN, no build step), one stylesheet.

It calls the application layer with the signed-in token's principal, so it sees and may do
exactly what that token may through the API. Reading pages work without JavaScript.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    from api.console import actions, pages

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(pages.router)
    app.include_router(actions.router)
