"""REST endpoints of the schedule, the gate and environment facts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from ..core.errors import InvalidInput
from ..schemas.common import ERROR_RESPONSES, MAX_ID, AwareDatetime, one_sentence
from ..schemas.environments import EnvironmentOut, RefreshIn
from ..schemas.gate import GateIn, GateOut
from ..schemas.schedule import (
    AcceptConflictIn,
    CalendarOut,
    ConflictOut,
    ExplainQuery,
    FreezeCreated,
    FreezeIn,
    FreezeOut,
    LiftIn,
    SlotOut,
    SlotQuery,
)
from ..services import environments, gate, schedule
from ..services.read_model import read_model
from starlette.concurrency import run_in_threadpool

from .deps import BEARER, RT, Caller, Secret, caller, model_response, runtime_of


def parse(model, **fields):
    """Query parameters through a boundary model, with its errors naming the parameter."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        message, field = one_sentence(exc)
        raise InvalidInput(message, field=field) from exc


def parse_range(start: datetime | None, end: datetime | None, rt) -> tuple[datetime, datetime]:
    # from/to arrive already checked (AwareDatetime: a string with an offset, in UTC); the defaults are the service's.
    return schedule.calendar_range(rt.clock(), start, end)


def caller_from(request: Request, rt, token: str | None):
    """The caller of a feed: the usual bearer header, or ?token= for calendar clients."""
    header = request.headers.get("authorization", "")
    secret = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else token
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=secret) if secret else None
    return caller(rt, credentials)

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.post("/changes/{ref}/gate", tags=["gate"], response_model=GateOut, openapi_extra=BEARER)
async def evaluate_gate(ref: str, body: GateIn, secret: Secret, request: Request) -> Response:
    """May the caller deploy this change to this environment now? Every rule with its reason."""
    rt = runtime_of(request)  # the request, not the RT dependency: measured cheaper (deps.bearer_of)
    kept = read_model(rt.engine)
    # From facts kept under the read version (one primary-key read, on the loop), when they are; the
    # decision's event is committed (grouped with others, in the thread pool) before it is answered.
    now = rt.clock()
    decided = gate.decide_kept(kept, await kept.version(), rt.policy, secret, ref, body.environment, body.at, now)
    if decided is not None:
        out, record = decided
        await run_in_threadpool(gate.record_decision, kept, record, now)
        return model_response(out)

    def decide() -> GateOut:
        # The caller is authenticated in the same statement that reads the change (services/changes.py).
        return gate.evaluate_for_token(rt.uow, rt.policy, secret, ref, body.environment, body.at, rt.clock(),
                                       kept=kept)

    # In the thread pool: a write waits for the audit chain's head (and SQLite's writer queue), which
    # must not stall the event loop; run on the loop it measured no faster (bench/README.md).
    return model_response(await run_in_threadpool(decide))


@router.get("/environments", tags=["environments"], response_model=list[EnvironmentOut])
def list_environments(ctx: Caller, rt: RT) -> list[EnvironmentOut]:
    with rt.uow(write=False) as uow:
        return environments.list_environments(uow, ctx)


@router.post("/environments/{name}/data-refresh", tags=["environments"], response_model=EnvironmentOut)
def record_refresh(name: str, body: RefreshIn, ctx: Caller, rt: RT) -> EnvironmentOut:
    """Record when the environment's data was refreshed (UAT freshness rule)."""
    with rt.uow() as uow:
        return environments.record_refresh(uow, ctx, name, body.at)


@router.get("/schedule/next-slot", tags=["schedule"], response_model=SlotOut)
def next_slot(
    ctx: Caller, rt: RT,
    environment: str,
    duration: Annotated[str, Query(description="minutes, or e.g. 90m, 1h30m")],
    after: AwareDatetime | None = None,
    change: str | None = None,
    item: Annotated[list[str], Query()] = [],
    emergency: bool = False,
) -> SlotOut:
    """The earliest start satisfying windows, blackouts, freezes and other changes' slots, and its window."""
    q = parse(SlotQuery, environment=environment, duration=duration, after=after, change=change, items=item,
              emergency=emergency)
    with rt.uow(write=False) as uow:
        return schedule.next_slot(uow, ctx, q)


@router.get("/schedule/explain", tags=["schedule"], response_model=SlotOut)
def explain(
    ctx: Caller, rt: RT,
    environment: str,
    at: AwareDatetime,
    duration: Annotated[str, Query(description="minutes, or e.g. 90m, 1h30m")],
    item: Annotated[list[str], Query()] = [],
    emergency: bool = False,
) -> SlotOut:
    """Allowed or not at this time for this duration, with every reason."""
    q = parse(ExplainQuery, environment=environment, at=at, duration=duration, items=item, emergency=emergency)
    with rt.uow(write=False) as uow:
        return schedule.explain(uow, ctx, q)


@router.get("/changes/{ref}/conflicts", tags=["schedule"], response_model=list[ConflictOut])
def conflicts(ref: str, ctx: Caller, rt: RT) -> list[ConflictOut]:
    with rt.uow(write=False) as uow:
        return schedule.list_conflicts(uow, ctx, ref)


@router.post("/changes/{ref}/conflicts/accept", tags=["schedule"], response_model=list[ConflictOut])
def accept_conflict(ref: str, body: AcceptConflictIn, ctx: Caller, rt: RT) -> list[ConflictOut]:
    """A change manager accepts, with a reason, that this change may overlap another on shared items."""
    with rt.uow() as uow:
        return schedule.accept_conflict(uow, ctx, ref, body)


@router.post("/freezes", tags=["schedule"], response_model=FreezeCreated, status_code=201)
def add_freeze(body: FreezeIn, ctx: Caller, rt: RT) -> FreezeCreated:
    """Declare an ad-hoc freeze; lists the scheduled changes whose slot it invalidates."""
    with rt.uow() as uow:
        return schedule.declare_freeze(uow, ctx, body)


@router.get("/freezes", tags=["schedule"], response_model=list[FreezeOut])
def list_freezes(ctx: Caller, rt: RT, start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
                 end: Annotated[AwareDatetime | None, Query(alias="to")] = None) -> list[FreezeOut]:
    start, end = parse_range(start, end, rt)
    with rt.uow(write=False) as uow:
        return schedule.list_freezes(uow, ctx, start, end)


@router.post("/freezes/{freeze_id}/lift", tags=["schedule"], response_model=FreezeOut)
def lift_freeze(freeze_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: LiftIn, ctx: Caller, rt: RT) -> FreezeOut:
    with rt.uow() as uow:
        return schedule.lift_freeze(uow, ctx, freeze_id, body.reason)


@router.get("/calendar", tags=["schedule"], response_model=CalendarOut)
def calendar(ctx: Caller, rt: RT, start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
             end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
             environment: str | None = None) -> CalendarOut:
    """Windows, blackouts and scheduled changes between two instants (default: the next 30 days)."""
    start, end = parse_range(start, end, rt)
    with rt.uow(write=False) as uow:
        return schedule.calendar(uow, ctx, start, end, environment)


@router.get("/calendar.ics", tags=["schedule"], response_class=Response,
            responses={200: {"content": {"text/calendar": {}}, "description": "RFC 5545 calendar"}})
def calendar_ics(rt: RT, request: Request,
                 start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
                 end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
                 environment: str | None = None,
                 token: Annotated[str | None, Query(description="API token, for calendar clients that cannot "
                                                                 "send headers")] = None) -> Response:
    """The change calendar as an iCalendar feed that Outlook and Google Calendar can subscribe to."""
    ctx = caller_from(request, rt, token)
    start, end = parse_range(start, end, rt)
    with rt.uow(write=False) as uow:
        cal = schedule.calendar(uow, ctx, start, end, environment)
    return Response(schedule.calendar_ics(cal, rt.clock()), media_type="text/calendar; charset=utf-8")
