"""Request dependencies: the runtime and the authenticated caller.

Endpoints open their unit of work with ``with rt.uow() as uow:`` themselves, so
the commit (and any conflict it raises) happens before the response is built.
"""

from __future__ import annotations

from typing import Annotated, Callable, TypeVar

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..core.errors import Unauthenticated
from ..services.context import Context
from ..services.runtime import Runtime
from ..services.tokens import authenticate

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="API token: `changegate token create --person ID`")


async def runtime(request: Request) -> Runtime:
    # async: a plain attribute read must not cost a trip through the thread pool.
    return request.app.state.runtime


def caller(
    rt: Annotated[Runtime, Depends(runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Context:
    if credentials is None:
        raise Unauthenticated("send an API token: 'Authorization: Bearer cg_…'")
    with rt.uow(write=False) as uow:
        person = authenticate(uow, rt.policy, credentials.credentials, rt.clock())
    return rt.context(person)


async def bearer_secret(request: Request) -> str:
    """The bearer token itself, for the hot routes that check it in the same statement as their read
    (async: no thread-pool trip, no query). A dependency, so that a request without a token is refused
    (401) before its body is validated, as with ``Caller``."""
    return bearer_of(request)


def bearer_of(request: Request) -> str:
    """The bearer token of ``request``, read as ``bearer`` (HTTPBearer) reads it. Not through HTTPBearer
    and ``runtime`` as dependencies: FastAPI solves each dependency per request, and those two levels cost
    about a seventh of a GET's CPU time (bench/README.md). The routes using it declare ``BEARER`` in their
    OpenAPI entry, so the documented security is unchanged."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("Authorization"))
    if not (scheme and credentials) or scheme.lower() != "bearer":
        raise Unauthenticated("send an API token: 'Authorization: Bearer cg_…'")
    return credentials


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


# The OpenAPI security requirement of a route taking ``Secret``: what the HTTPBearer dependency would
# declare (the scheme is in the document's components through ``Caller``'s routes).
BEARER = {"security": [{"HTTPBearer": []}]}


async def read(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run a short read-only unit of work: on the event loop for SQLite, through the thread pool for
    PostgreSQL (measured, bench/README.md). SQLite reads in WAL mode never wait on a lock and have no
    network round trip, so the trip to a worker thread costs more than the read. A PostgreSQL server
    may be remote: a round trip made on the loop would stall every other request meanwhile, and in the
    pool the round trips of concurrent requests overlap."""
    if rt.settings.database_url.startswith("sqlite"):
        return fn()
    return await run_in_threadpool(fn)


async def read_quick_first(rt: Runtime, fn: Callable[[bool], T | None]) -> T:
    """``read`` for a view that may need long work (a change's CMDB impact search, which may wait for an
    index build): on SQLite ``fn(True)`` runs on the loop and answers None when that work is needed, and
    ``fn(False)`` then runs in the thread pool, so the loop never waits for it."""
    if rt.settings.database_url.startswith("sqlite"):
        quick = fn(True)
        if quick is not None:
            return quick
    return await run_in_threadpool(fn, False)


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """The service's already-validated schema object as JSON. FastAPI would validate it again
    against ``response_model`` in another trip through the thread pool; the route's
    ``response_model`` still documents it."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


Caller = Annotated[Context, Depends(caller)]
RT = Annotated[Runtime, Depends(runtime)]
Secret = Annotated[str, Depends(bearer_secret)]
