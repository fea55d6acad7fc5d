"""The change calendar: a week or a month, day by day, on the plant's wall clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from ..core.errors import InvalidInput
from ..services import schedule, web_schedule
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .render import render

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)


def _first_day(start: str, view: str, today: date) -> date:
    try:
        day = date.fromisoformat(start) if start else today
    except ValueError:
        raise InvalidInput(f"start {start!r} is not a date (YYYY-MM-DD)", field="start") from None
    return day - timedelta(days=day.weekday()) if view == "week" else day.replace(day=1)


def _next_first(first: date, view: str) -> date:
    if view == "week":
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous_first(first: date, view: str) -> date:
    return first - timedelta(days=7) if view == "week" else (first - timedelta(days=1)).replace(day=1)


def _days(cal, first: date, last: date, zone: ZoneInfo) -> list[dict]:
    """Each local day with the entries overlapping it (an entry of no length: the day it starts)."""
    days = []
    day = first
    while day < last:
        start = datetime.combine(day, time(), zone)
        end = datetime.combine(day + timedelta(days=1), time(), zone)
        days.append({"day": day, "entries": [(e, _span(e, start, end, zone)) for e in cal.entries
                                             if e.start < end and (e.end > start or e.start >= start)]})
        day += timedelta(days=1)
    return days


def _span(entry, day_start: datetime, day_end: datetime, zone: ZoneInfo) -> str:
    """The entry's hours within one day: "all day", "from 22:00", "until 06:30" or "09:00–11:00"."""
    starts_before, ends_after = entry.start <= day_start, entry.end >= day_end
    if starts_before and ends_after:
        return "all day"
    if ends_after:
        return f"from {entry.start.astimezone(zone):%H:%M}"
    if starts_before:
        return f"until {entry.end.astimezone(zone):%H:%M}"
    return f"{entry.start.astimezone(zone):%H:%M}–{entry.end.astimezone(zone):%H:%M}"


def _in_conflict(cal) -> dict[str, str]:
    """Each change in a conflict: "open", or "accepted" when every conflict it is in was accepted."""
    marks: dict[str, str] = {}
    for c in cal.conflicts:
        for ref in (c.change, c.other):
            marks[ref] = "open" if not c.accepted or marks.get(ref) == "open" else "accepted"
    return marks


@router.get("/calendar")
def calendar_page(request: Request, ctx: Viewer, rt: RT, view: Literal["week", "month"] = "week",
                  start: Annotated[str, Query(max_length=10)] = "",
                  environment: Annotated[str, Query(max_length=64)] = "prod",
                  change: Annotated[str, Query(max_length=32)] = "") -> Response:
    """With ``change=CHG-n``: that change's next valid slots above the calendar of its environment, each
    a button that schedules it there."""
    zone = ZoneInfo(ctx.policy.schedule.timezone)
    first = _first_day(start, view, ctx.now.astimezone(zone).date())
    last = _next_first(first, view)
    begin, end = datetime.combine(first, time(), zone), datetime.combine(last, time(), zone)
    with rt.uow(write=False) as uow:
        choice = web_schedule.next_slots(uow, ctx, change) if change else None
        environment = choice.environment if choice else environment
        cal = schedule.calendar(uow, ctx, begin, end, environment or None)
        waiting = web_schedule.waiting_for_slot(uow, ctx, environment) if not change else []
    return render(request, "calendar.html", me=ctx.actor, cal=cal, days=_days(cal, first, last, zone),
                  in_conflict=_in_conflict(cal), holidays=web_schedule.holidays_by_day(ctx, cal), view=view,
                  first=first, previous=_previous_first(first, view), following=last, environment=environment,
                  environments=list(ctx.policy.environments), tz=ctx.policy.schedule.timezone,
                  today=ctx.now.astimezone(zone).date(), choice=choice, change=change.upper(), waiting=waiting)
