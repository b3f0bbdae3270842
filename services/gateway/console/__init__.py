"""The web console (docs/console.md): server-rendered pages with htmx on the gateway's main origin, over the
gateway's own API. ``install(app)`` mounts its routes under ``/console`` and its static files (htmx, vendored)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.gateway.console import activity, builds, jobs, session, studio, studios
from services.gateway.console.api import ApiError
from services.gateway.console.web import (
    HERE,
    PREFIX,
    CrossOrigin,
    SignInRequired,
    on_api_error,
    on_cross_origin,
    on_sign_in_required,
)


def install(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
    for module in (session, studios, studio, activity, jobs, builds):
        app.include_router(module.router)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(CrossOrigin, on_cross_origin)

    @app.get(PREFIX, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")
