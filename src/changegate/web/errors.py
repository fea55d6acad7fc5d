"""Domain errors to pages, in one place (as api/errors.py does for HTTP).

Pages are served through ``PageRoute``, which loads the web session before the handler, turns
every domain error into a page (or, for a visitor not signed in, a redirect to the sign-in page),
and writes the session cookie and the security headers on the way out.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import (
    ChangegateError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyError,
    Refused,
    Unauthenticated,
    Unavailable,
)
from ..schemas.common import problems
from . import session as web_session
from .render import render

STATUS: dict[type[ChangegateError], tuple[int, str]] = {
    InvalidInput: (422, "Something in the form needs fixing"),
    NotFound: (404, "Not found"),
    Forbidden: (403, "Not allowed"),
    Refused: (409, "Refused"),
    Conflict: (409, "Changed meanwhile"),
    PolicyError: (500, "The server's policy file is invalid"),
    Unavailable: (503, "Unavailable"),
}

# Scripts and styles come from /static only; no frames, no plugins.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def status_of(exc: ChangegateError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400, "Something went wrong"


def page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, RequestValidationError):
        found = problems(exc.errors(), from_request=True)
        exc = InvalidInput("; ".join(f"{p.field}: {p.message}" for p in found) or "invalid form")
    status, title = status_of(exc)
    return render(request, "error.html", me=getattr(request.state, "person", None), status_code=status,
                  title=title, error=exc, back=request.headers.get("referer", "/"))


def _signer(request: Request):
    from ..services.passwords import SESSION_SECRET, shared_secret

    app_state = request.app.state
    signer = getattr(app_state, "web_signer", None)
    if signer is None:
        rt = app_state.runtime
        for attempt in (1, 2):  # a second process may create the key at the same moment: read theirs
            try:
                with rt.uow() as uow:
                    secret = shared_secret(uow, SESSION_SECRET, rt.clock())
                break
            except Conflict:
                if attempt == 2:
                    raise
        signer = app_state.web_signer = web_session.serializer(secret)
    return signer


class PageRoute(APIRoute):
    def get_route_handler(self):
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            # Made once per process (a database read): afterwards no trip to a worker thread for it.
            signer = getattr(request.app.state, "web_signer", None) or await run_in_threadpool(_signer, request)
            request.state.web = web_session.read(request, signer)
            request.state.person = request.state.ctx = None
            try:
                response = await inner(request)
            except (ChangegateError, RequestValidationError) as exc:
                response = page_for(request, exc)
            if request.state.web.modified:
                web_session.write(response, request.state.web, signer, secure=request.url.scheme == "https")
            response.headers.update(SECURITY_HEADERS)
            return response

        return handler
