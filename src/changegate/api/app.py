"""The FastAPI application: REST API under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from .. import __version__
from ..services.runtime import Runtime
from ..web import app as web
from . import admin, changes, cmdb, errors, jobs, people, runs, schedule
from .guards import BodyLimit, QueryCheck


def create_app(runtime: Runtime) -> FastAPI:
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN, so
    # they work on an air-gapped plant network.
    app = FastAPIOffline(
        title="changegate",
        version=__version__,
        summary="Change & release management: request, assess, approve, schedule, gate, execute, verify, "
                "roll back and remember every change to production.",
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(QueryCheck)
    app.add_middleware(BodyLimit, max_body_bytes=runtime.settings.max_body_bytes,
                       max_upload_bytes=runtime.settings.max_evidence_bytes)
    app.include_router(changes.router)
    app.include_router(admin.router)
    app.include_router(schedule.router)
    app.include_router(runs.router)
    app.include_router(cmdb.router)
    app.include_router(jobs.router)
    app.include_router(people.router)

    web.install(app)  # the pages at / (sign-in, dashboard, changes, approvals) beside /api/v1
    return app


def app_from_environment() -> FastAPI:
    """The app for a server process started by uvicorn itself (``changegate serve --workers N``): each
    worker process builds its own runtime (engine, connection pool, policy) from the same
    ``CHANGEGATE_*`` environment the parent read. Workers share nothing in memory: what each keeps (its
    kept views, services/read_model.py) is validated on every request by the read version, which every
    committed write in any process moves."""
    from ..settings import Settings

    return create_app(Runtime.from_settings(Settings()))
