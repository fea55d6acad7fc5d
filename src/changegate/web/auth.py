"""Sign-in, sign-out and the one-time set-password link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import InvalidInput, Unauthenticated
from ..services import passwords, web_sessions
from .deps import RT, csrf_guard
from .errors import PageRoute
from .render import render

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)

Field64 = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=passwords.MAX_PASSWORD_LENGTH)]


def _local(target: str) -> str:
    """Only a path on this site: a sign-in link must not bounce the person elsewhere."""
    parts = urlsplit(target)
    # "//host" and "/\\host" are other sites to a browser.
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/"
    return target


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "/") -> Response:
    return render(request, "sign_in.html", next=_local(next), person="", message="")


@router.post("/sign-in")
def sign_in(request: Request, rt: RT, person: Field64, password: Password, next: Annotated[str, Form()] = "/"
            ) -> Response:
    with rt.uow() as uow:
        outcome = passwords.sign_in(uow, rt.policy, person.strip(), password, now := rt.clock())
        if outcome.person is not None:
            secret = web_sessions.start(uow, outcome.person, now, address=request.client.host if request.client else "",
                                        user_agent=request.headers.get("user-agent", ""))
    if outcome.person is None:
        return render(request, "sign_in.html", status_code=401, next=_local(next), person=person,
                      message=outcome.message)
    request.state.web.sign_in(outcome.person.id, secret)
    return RedirectResponse(_local(next), status_code=303)


@router.post("/sign-out")
def sign_out(request: Request, rt: RT) -> Response:
    """Ends the session's row too: a copy of the cookie is worthless afterwards."""
    if request.state.web.secret:
        with rt.uow() as uow:
            web_sessions.sign_out(uow, request.state.web.secret, rt.clock())
    request.state.web.sign_out()
    return RedirectResponse("/sign-in", status_code=303)


@router.get("/set-password/{secret}")
def set_password_page(request: Request, rt: RT, secret: str) -> Response:
    try:
        with rt.uow(write=False) as uow:
            holder = passwords.link_holder(uow, rt.policy, secret, rt.clock())
    except Unauthenticated as exc:
        return render(request, "set_password.html", status_code=404, holder=None, message=exc.message)
    return render(request, "set_password.html", holder=holder, secret=secret, message="",
                  minimum=passwords.MIN_PASSWORD_LENGTH)


@router.post("/set-password/{secret}")
def set_password(request: Request, rt: RT, secret: str, password: Password, repeat: Password) -> Response:
    try:
        if password != repeat:
            raise InvalidInput("the two passwords differ", field="repeat")
        with rt.uow() as uow:
            holder = passwords.redeem_link(uow, rt.policy, secret, password, rt.clock())
    except (Unauthenticated, InvalidInput) as exc:
        with rt.uow(write=False) as uow:
            try:
                holder = passwords.link_holder(uow, rt.policy, secret, rt.clock())
            except Unauthenticated:
                holder = None
        return render(request, "set_password.html", status_code=422 if holder else 404, holder=holder,
                      secret=secret, message=exc.message, minimum=passwords.MIN_PASSWORD_LENGTH)
    request.state.web.sign_out()
    request.state.web.say(f"password set for {holder.id}: sign in with it")
    return RedirectResponse("/sign-in", status_code=303)
