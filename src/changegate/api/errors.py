"""Domain errors to HTTP, in one place (house rule 6)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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

STATUS: dict[type[ChangegateError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Unauthenticated: 401,
    Forbidden: 403,
    Refused: 409,
    Conflict: 409,
    PolicyError: 500,  # a server started with a bad policy is misconfigured, not the caller's fault
    Unavailable: 503,
}


def status_of(exc: ChangegateError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(app: FastAPI, request: Request) -> str:
    # Starlette's 405 names only the first route matching the path; a path may have several (GET and
    # POST /changes are two routes), and the Allow header must list them all: ask the router per method.
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in app.router.routes)]
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(ChangegateError)
    async def _domain(_request: Request, exc: ChangegateError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(exc.to_dict(), status_code=status_of(exc), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework-level refusals (unknown route, unparsable body) keep the same body shape as ours.
        code = {400: "invalid_input", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid UTF-8 JSON"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(app, request)
        field = "body" if exc.status_code in (400, 413) else None
        return JSONResponse({"error": code, "message": message, "field": field},
                            status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        found = problems(exc.errors(), from_request=True)
        errors = [{"field": p.field or "body", "message": p.message} for p in found]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        body = {
            "error": "invalid_input",
            "message": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            "field": first["field"],
            "errors": errors,
        }
        # A body that is not JSON at all is unreadable (400), not invalid (422).
        unreadable = any(p.kind == "json_invalid" for p in found)
        return JSONResponse(body, status_code=400 if unreadable else 422)
