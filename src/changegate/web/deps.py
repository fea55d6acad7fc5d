"""Request dependencies of the pages: the runtime, the signed-in person, the CSRF check."""

from __future__ import annotations

from typing import Annotated, Callable, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..core.errors import Forbidden, Unauthenticated
from ..services import web_sessions
from ..services.context import Context
from ..services.runtime import Runtime

T = TypeVar("T")


async def runtime(request: Request) -> Runtime:
    # async: a plain attribute read must not cost a trip through the thread pool.
    return request.app.state.runtime


async def read(rt: Runtime, fn: Callable[[], T]) -> T:
    """A short read: on the event loop for SQLite, through the thread pool for PostgreSQL (as the API's
    api/deps.py: read, measured there). A SQLite read in WAL mode never waits on a lock and makes no round
    trip, so the trip to a worker thread costs more than the read; a PostgreSQL server may be remote."""
    if rt.settings.database_url.startswith("sqlite"):
        return fn()
    return await run_in_threadpool(fn)


async def viewer(request: Request) -> Context:
    """Who is signed in: the session's row checked on every page (services/web_sessions.py), in one statement
    that also reads the audit chain's head (``request.state.head``, the key of the views kept)."""
    rt = request.app.state.runtime
    session = request.state.web
    if not session.person or not session.secret:
        raise Unauthenticated("sign in first")

    def check() -> web_sessions.Signed:
        with rt.uow(write=False) as uow:
            return web_sessions.check(uow, rt.policy, session.person, session.secret, rt.clock())

    signed = await read(rt, check)
    request.state.person, request.state.head = signed.person, signed.head
    request.state.ctx = rt.context(signed.person)
    return request.state.ctx


async def csrf_guard(request: Request) -> None:
    """Every form POST carries the session's CSRF token in its ``csrf`` field (house rule for pages:
    the router applies this to each route, so no form can forget it)."""
    if request.method != "POST":
        return
    form = await request.form()
    if not request.state.web.csrf_matches(form.get("csrf") if isinstance(form.get("csrf"), str) else None):
        raise Forbidden("the form's CSRF token is missing or does not match your session; "
                        "reload the page and send the form again")


Viewer = Annotated[Context, Depends(viewer)]
RT = Annotated[Runtime, Depends(runtime)]
