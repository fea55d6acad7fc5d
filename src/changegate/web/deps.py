"""Request dependencies of the pages: the runtime, the signed-in person, the CSRF check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..core.errors import Forbidden, Unauthenticated
from ..services import passwords
from ..services.context import Context
from ..services.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def viewer(request: Request) -> Context:
    """Who is signed in, checked against the policy and their credential on every page."""
    rt = runtime(request)
    session = request.state.web
    if not session.person:
        raise Unauthenticated("sign in first")
    with rt.uow(write=False) as uow:
        person = passwords.session_person(uow, rt.policy, session.person, session.stamp)
    request.state.person = person
    request.state.ctx = rt.context(person)
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
