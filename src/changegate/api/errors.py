"""Domain errors to HTTP, in one place (house rule 6)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def _field_of(loc: tuple) -> str:
    # ("body", "planned_start") -> "planned_start"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(ChangegateError)
    async def _domain(_request: Request, exc: ChangegateError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(exc.to_dict(), status_code=status_of(exc), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework-level refusals (unknown route, unparsable body) keep the same body shape as ours.
        code = {400: "invalid_input", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed"}.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid UTF-8 JSON"
        return JSONResponse({"error": code, "message": message, "field": "body" if exc.status_code == 400 else None},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors, unreadable = [], False
        for err in exc.errors():
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            field = _field_of(tuple(err.get("loc", ())))
            if err.get("type") == "extra_forbidden":
                message = "unknown field"
            elif err.get("type") == "missing":
                message = "required field missing"
            elif err.get("type") == "json_invalid":  # loc is ("body", byte offset): the body is not JSON at all
                unreadable = True
                message = f"malformed JSON at character {field}: {err.get('ctx', {}).get('error', message)}"
                field = "body"
            errors.append({"field": field, "message": message})
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        body = {
            "error": "invalid_input",
            "message": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            "field": first["field"],
            "errors": errors,
        }
        return JSONResponse(body, status_code=400 if unreadable else 422)
