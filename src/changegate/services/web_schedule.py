"""What the pages add to the schedule: a change's next valid slots to choose from, and the names of
public holidays on the calendar.

The slots come from the same ``schedule.next_slot`` as ``changegate schedule next-slot`` and the API;
choosing one schedules the change through ``changes.transition``, as the CLI and the API do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..core.changes.lifecycle import Action
from ..core.policy.model import Permission
from ..core.changes.entities import format_ref
from ..core.schedule import engine
from ..core.schedule.policy import HolidaysBlackout, holiday_names
from ..db.uow import UnitOfWork
from ..schemas.changes import ChangeFilter, ChangeSummaryOut
from ..schemas.schedule import CalendarEntryOut, CalendarOut, SlotOut, SlotQuery
from . import schedule
from .changes import ACTION_PERMISSION
from .context import Context
from .lookup import load
from .views import change_summary_out, facts_of

SLOTS_OFFERED = 5
_SCHEDULING = {"authorized": Action.SCHEDULE, "scheduled": Action.RESCHEDULE}


@dataclass
class SlotChoice:
    ref: str
    environment: str
    action: str  # schedule or reschedule: what choosing a slot does
    row_version: int
    duration_minutes: int
    slots: list[SlotOut] = field(default_factory=list)
    why_none: str = ""  # when no slot was found: the schedule's reason


def scheduling_action(ctx: Context, change) -> Action | None:
    """SCHEDULE or RESCHEDULE if the change's state takes one and the actor may take it, else None."""
    action = _SCHEDULING.get(change.state)
    if action is None or not ctx.may(ACTION_PERMISSION[action], change=facts_of(change)):
        return None
    return action


def next_slots(uow: UnitOfWork, ctx: Context, ref: str, count: int = SLOTS_OFFERED) -> SlotChoice | None:
    """The change's next ``count`` valid slots from now, one per window occurrence (the earliest start
    in each), or None when the actor may not schedule it in its current state."""
    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ, change=facts_of(change))
    action = scheduling_action(ctx, change)
    if action is None:
        return None
    duration = change.estimated_downtime_minutes or 0
    choice = SlotChoice(ref=ref.upper(), environment=change.environment, action=action.value,
                        row_version=change.row_version, duration_minutes=duration)
    after: datetime = ctx.now
    for _ in range(count):
        slot = schedule.next_slot(uow, ctx, SlotQuery(environment=change.environment, duration=duration,
                                                      after=after, change=choice.ref))
        if not slot.allowed or slot.start is None:
            choice.why_none = "; ".join(r.message for r in slot.reasons)
            break
        choice.slots.append(slot)
        # The next offer starts after this window (several starts in one window are one choice).
        after = slot.window.end if slot.window and slot.window.end > slot.start else slot.end
    return choice


def holidays_by_day(ctx: Context, cal: CalendarOut) -> dict[date, list[str]]:
    """The public holidays the calendar's holiday blackouts stand for, named day by day (local dates)."""
    rules = {r.name: r for r in ctx.policy.schedule.blackouts if isinstance(r, HolidaysBlackout)}
    named: dict[date, list[str]] = {}
    for entry in cal.entries:
        rule = rules.get(entry.name) if entry.kind == "blackout" and entry.rule == "holidays" else None
        if rule is None:
            continue
        zone = ctx.policy.schedule.timezone_for(entry.environment)
        day, last = _local_date(entry.start, zone), _local_date(entry.end - timedelta(seconds=1), zone)
        while day <= last:
            name = holiday_names(rule.country, rule.subdivision, day.year).get(day)
            if name and name not in named.setdefault(day, []):
                named[day].append(name)
            day += timedelta(days=1)
    return named


def _local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


WAITING_SHOWN = 20


def waiting_for_slot(uow: UnitOfWork, ctx: Context, environment: str) -> list[ChangeSummaryOut]:
    """Authorized changes of an environment the actor may schedule (the newest WAITING_SHOWN)."""
    if not environment or not ctx.may(Permission.CHANGE_SCHEDULE, environment=environment):
        return []
    rows, _ = uow.changes.search(ChangeFilter(state=["authorized"], environment=[environment], limit=WAITING_SHOWN))
    return [change_summary_out(ctx, c) for c in rows if scheduling_action(ctx, c)]


@dataclass
class WeekAhead:
    scheduled: list[CalendarEntryOut]  # changes holding a slot in the range, by start
    restrictions_now: list[CalendarEntryOut]  # blackouts and freezes in force now, clipped to the range


# (id(policy), environment, start, end) -> (the policy, its own blackouts): the policy is kept with them, so
# its id is not reused by another policy while they are kept
_POLICY_BLACKOUTS: dict[tuple, tuple] = {}


def _blackouts(ctx: Context, environment: str, start: datetime, end: datetime, freezes: list) -> list:
    """The blackout entries of ``schedule.calendar`` (the engine's calendar_entries) for one environment. Those
    of the policy alone depend on nothing but the range, which changes once a day: kept per process. With
    freezes in the range (rare), computed afresh with them."""
    if freezes:
        return [e for e in engine.calendar_entries(ctx.policy.schedule, environment, start, end, freezes)
                if e.kind == "blackout"]
    key = (id(ctx.policy), environment, start, end)
    policy, found = _POLICY_BLACKOUTS.get(key, (None, None))
    if policy is not ctx.policy:
        if len(_POLICY_BLACKOUTS) > 64:
            _POLICY_BLACKOUTS.clear()
        found = [e for e in engine.calendar_entries(ctx.policy.schedule, environment, start, end)
                 if e.kind == "blackout"]
        _POLICY_BLACKOUTS[key] = (ctx.policy, found)
    return found


def week_ahead(uow: UnitOfWork, ctx: Context, start: datetime, end: datetime) -> WeekAhead:
    """What the dashboard shows of the calendar (``schedule.calendar`` from ``start`` to ``end``, every
    environment): the scheduled changes and the blackouts and freezes in force now. Not the windows nor the
    conflicts, which the calendar page shows: building them was most of a fresh dashboard's time."""
    ctx.require(Permission.CHANGE_READ)
    freezes = schedule._freezes(uow, start, end)
    restrictions = [
        CalendarEntryOut(kind=e.kind, name=e.name, rule=e.rule, environment=env, start=e.start, end=e.end,
                         timezone=e.timezone, emergency_override=e.emergency_override, description=e.description)
        for env in ctx.policy.environments for e in _blackouts(ctx, env, start, end, freezes)
        if e.start <= ctx.now < e.end]
    scheduled = [
        CalendarEntryOut(kind="change", name=c.title, rule=c.type, environment=c.environment, start=c.planned_start,
                         end=c.planned_start + timedelta(minutes=c.estimated_downtime_minutes or 0), timezone="UTC",
                         change=format_ref(c.id), state=c.state)
        for c in uow.web_reads.holding_slots(start, end)]
    key = lambda e: (e.start, e.kind, e.environment, e.name)  # noqa: E731 (schedule.calendar's order)
    return WeekAhead(sorted(scheduled, key=key), sorted(restrictions, key=key))
