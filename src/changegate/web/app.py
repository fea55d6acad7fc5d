"""The web pages as part of the FastAPI application: routers and the packaged static assets."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from . import auth, calendar, cmdb, deploy, forms, pages, sessions
from .render import STATIC


def install(app: FastAPI) -> None:
    app.include_router(auth.router)
    app.include_router(forms.router)  # before pages: /changes/new is not a change reference
    app.include_router(deploy.router)  # before pages: /changes/{ref}/run/live
    app.include_router(pages.router)
    app.include_router(calendar.router)
    app.include_router(cmdb.router)  # the CMDB's pages (issue 15)
    app.include_router(sessions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
