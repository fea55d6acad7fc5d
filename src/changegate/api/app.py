"""The FastAPI application: REST API under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from .. import __version__
from ..services.runtime import Runtime
from . import admin, changes, errors, schedule


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="changegate",
        version=__version__,
        summary="Change & release management: request, assess, approve, schedule, gate, execute, verify, "
                "roll back and remember every change to production.",
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(changes.router)
    app.include_router(admin.router)
    app.include_router(schedule.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
