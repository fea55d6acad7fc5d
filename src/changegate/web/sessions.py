"""Signed-in sessions: a person sees their own and signs one out; a token manager does so for anyone."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from ..core.policy.model import Permission
from ..services import web_sessions
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .render import render

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)


@router.get("/sessions")
def sessions_page(request: Request, ctx: Viewer, rt: RT,
                  person: Annotated[str, Query(max_length=64)] = "") -> Response:
    whose = person.strip() or ctx.actor.id
    with rt.uow(write=False) as uow:
        found = web_sessions.open_sessions(uow, ctx, whose, request.state.web.secret)
    manager = ctx.may(Permission.TOKEN_MANAGE)
    people = [p for p in ctx.policy.people if not p.service_account] if manager else []
    return render(request, "sessions.html", me=ctx.actor, whose=whose, sessions=found, people=people,
                  tz=ctx.policy.schedule.timezone)


@router.post("/sessions/{session_id}/end")
def end_session(request: Request, ctx: Viewer, rt: RT, session_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
                ) -> Response:
    with rt.uow() as uow:
        whose, current = web_sessions.end_session(uow, ctx, session_id, request.state.web.secret)
    if current:  # this very session: signed out
        request.state.web.sign_out()
        return RedirectResponse("/sign-in", status_code=303)
    request.state.web.say(f"session {session_id} of {whose} signed out")
    query = urlencode({"person": whose}) if whose != ctx.actor.id else ""
    return RedirectResponse("/sessions" + (f"?{query}" if query else ""), status_code=303)
