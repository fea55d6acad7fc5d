"""Schedule use cases: slot verdicts, next slot, conflicts, ad-hoc freezes, the calendar.

The rules are the pure engine's (core/schedule.py); this module gathers what it
needs from storage: the ad-hoc freezes, the other scheduled changes, accepted
conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..core.schedule import engine as engine
from ..core.audit import AuditRecord
from ..core.changes.entities import ChangeType, format_ref
from ..core.authz import authorize
from ..core.decisions import Decision, Reason
from ..core.errors import InvalidInput, NotFound, Refused
from ..core.policy.model import Permission, Policy
from ..schemas.schedule import (
    AcceptConflictIn,
    CalendarEntryOut,
    CalendarOut,
    ConflictOut,
    ExplainQuery,
    FreezeCreated,
    FreezeIn,
    FreezeOut,
    ReasonOut,
    SlotOut,
    SlotQuery,
    WindowOut,
)
from . import schedule_quick  # the local next-slot's path without SQLAlchemy or pydantic
from .context import Context

if TYPE_CHECKING:
    from ..db.models import Change, Freeze
    from ..db.reads import ReadOnlyUnit
    from ..db.uow import UnitOfWork

# The read-only use cases here (next slot, explain) read through ``uow.schedule_reads`` (db/reads.py, Core
# only), so they run on a ``ReadOnlyUnit`` as well as on a ``UnitOfWork``; the ORM (models, lookup) is
# imported by the functions that write or load a change (issue 13: ``schedule next-slot`` starts without it).

HORIZON = schedule_quick.HORIZON
# The calendar (and the freeze list) with no range given: from now, this far ahead. One rule for the API
# and the CLI, so the two cannot show different default ranges.
CALENDAR_DEFAULT_SPAN = timedelta(days=30)
# A zero-downtime deploy still happens at an instant: for conflicts it holds its items a minute.
_MIN_HOLD = schedule_quick.MIN_HOLD
# Reasons that make a slot invalid; the engine's other reasons are information ("fits window …").
_PROBLEM_CODES = frozenset({engine.ScheduleCode.OUTSIDE_WINDOW, engine.ScheduleCode.WINDOW_TOO_SHORT,
                            engine.ScheduleCode.NO_WINDOW, engine.ScheduleCode.BLACKOUT,
                            engine.ScheduleCode.NO_SLOT})


@dataclass(frozen=True)
class ChangeConflict:
    other: str
    items: tuple[str, ...]
    start: datetime
    end: datetime
    accepted: bool
    through: tuple[str, ...] = ()  # a conflict through dependencies: the paths that explain it

    @property
    def sentence(self) -> str:
        how = f" through {'; '.join(self.through)}" if self.through else ""
        return (f"overlaps {self.other} on {', '.join(self.items)}{how} from {self.start:%Y-%m-%d %H:%M} to "
                f"{self.end:%Y-%m-%d %H:%M} UTC" + (" (accepted)" if self.accepted else ""))


def plant_midnight(policy: Policy, day: date, environments: Sequence[str] = ()) -> datetime:
    """The instant a bare date stands for: midnight starting ``day`` on the plant's wall clock, in the time zone
    of the first environment named (a freeze over several environments reads its dates in the first one's),
    else the policy's."""
    zone = policy.schedule.timezone_for(environments[0]) if environments else policy.schedule.timezone
    return datetime.combine(day, time(0), ZoneInfo(zone))


def _known_environment(ctx: Context, environment: str) -> None:
    if environment not in ctx.policy.environments:
        raise InvalidInput(f"unknown environment {environment!r} (known: {', '.join(ctx.policy.environments)})",
                           field="environment")


def _context(ctx: Context, environment: str, items, emergency: bool) -> engine.ScheduleContext:
    env = ctx.policy.environments.get(environment)
    return engine.ScheduleContext(environment=environment, site=env.site if env else None,
                                  items=frozenset(items), emergency=emergency)


_adhoc = schedule_quick.adhoc_freezes  # one reading of stored freezes for both paths


def _freezes(uow: UnitOfWork | ReadOnlyUnit, start: datetime, end: datetime) -> list[engine.AdhocFreeze]:
    return _adhoc(uow.schedule_reads.active_freezes(start, end))


def slot_end(start: datetime, duration: timedelta) -> datetime:
    """Where a deploy of ``duration`` from ``start`` stops holding its items and meeting freezes."""
    return start + max(duration, _MIN_HOLD)


def _duration(change: Change) -> timedelta:
    return timedelta(minutes=change.estimated_downtime_minutes or 0)


def _slot_out(environment: str, d: engine.ScheduleDecision, timezone: str | None = None) -> SlotOut:
    w = d.window
    zone = ZoneInfo(timezone) if timezone else None
    return SlotOut(
        timezone=timezone, local_start=d.start.astimezone(zone) if zone and d.start else None,
        local_end=d.end.astimezone(zone) if zone and d.end else None,
        environment=environment, allowed=d.allowed, start=d.start, end=d.end,
        window=WindowOut(name=w.name, timezone=w.timezone, start=w.start, end=w.end,
                         local_start=w.local_start.isoformat(), local_end=w.local_end.isoformat()) if w else None,
        reasons=[ReasonOut(code=r.code, message=r.message) for r in d.reasons],
    )


def explain_slot(uow: UnitOfWork | ReadOnlyUnit, ctx: Context, environment: str, start: datetime, duration: timedelta,
                 items=(), emergency: bool = False) -> engine.ScheduleDecision:
    _known_environment(ctx, environment)
    return engine.explain(ctx.policy.schedule, _context(ctx, environment, items, emergency), start, duration,
                          _freezes(uow, start, start + max(duration, _MIN_HOLD)))


def explain(uow: UnitOfWork | ReadOnlyUnit, ctx: Context, q: ExplainQuery) -> SlotOut:
    ctx.require(Permission.CHANGE_READ)
    d = explain_slot(uow, ctx, q.environment, q.at, timedelta(minutes=q.duration), q.items, q.emergency)
    return _slot_out(q.environment, d, ctx.policy.schedule.timezone_for(q.environment))


def timing_verdict(ctx: Context, change: Change, environment: str, start: datetime, duration: timedelta,
                   freezes) -> Decision:
    """The gate's timing rule: may the change's whole downtime run from ``start`` in ``environment``?
    ``freezes``: the stored ad-hoc freezes active over [start, slot_end(start, duration)), already read."""
    _known_environment(ctx, environment)
    return engine.explain(ctx.policy.schedule, _context(ctx, environment, [i.name for i in change.items],
                                                        change.type == ChangeType.EMERGENCY.value),
                          start, duration, _adhoc(freezes))


# --- conflicts ----------------------------------------------------------------------------------


def _as_scheduled(change: Change, start: datetime | None = None) -> engine.ScheduledChange:
    start = start or change.planned_start
    return engine.ScheduledChange(str(change.id), start, start + max(_duration(change), _MIN_HOLD),
                                  frozenset(i.name for i in change.items))


def conflicts_of(uow: UnitOfWork, ctx: Context, change: Change, *, start: datetime | None = None
                 ) -> list[ChangeConflict]:
    """Every scheduled change of the same environment overlapping this one's slot on a shared item."""
    start = start or change.planned_start
    if start is None:
        return []
    candidate = _as_scheduled(change, start)
    # the slot holders as next-slot reads them (db/reads.py: held_slots), not as ORM changes
    others = [engine.ScheduledChange(str(h.change_id), h.start, h.start + max(h.downtime, _MIN_HOLD), h.items)
              for h in uow.schedule_reads.held_slots(candidate.start, candidate.end, environment=change.environment)
              if h.change_id != change.id]
    accepted = uow.conflict_acceptances.accepted_with(change.id)
    return _conflicts(uow, ctx, candidate, others, accepted)


def conflicts_among(uow: UnitOfWork, ctx: Context, change: Change, start: datetime, holders, accepted: set[int]
                    ) -> list[ChangeConflict]:
    """``conflicts_of`` from rows already read: ``holders`` are the changes holding a slot in the change's
    environment that starts before its slot ends (id, planned_start, estimated_downtime_minutes, item names)."""
    candidate = _as_scheduled(change, start)
    others = []
    for h in holders:
        duration = timedelta(minutes=h.estimated_downtime_minutes or 0)
        if h.id != change.id and h.planned_start + duration > start:  # as scheduled_between filters
            others.append(engine.ScheduledChange(str(h.id), h.planned_start, h.planned_start + max(duration, _MIN_HOLD),
                                                 frozenset(h.items)))
    return _conflicts(uow, ctx, candidate, others, accepted)


def _conflicts(uow: UnitOfWork, ctx: Context, candidate: engine.ScheduledChange,
               others: list[engine.ScheduledChange], accepted: set[int]) -> list[ChangeConflict]:
    found = engine.conflicts_with(candidate, others)
    found = sorted(found + _through_dependencies(uow, ctx, candidate, others, {c.second for c in found}),
                   key=lambda c: c.start)
    return [ChangeConflict(format_ref(int(c.second)), c.items, c.start, c.end, int(c.second) in accepted, c.through)
            for c in found]


def _through_dependencies(uow: UnitOfWork, ctx: Context, candidate: engine.ScheduledChange,
                          scheduled: list[engine.ScheduledChange], sharing: set[str]) -> list:
    """Overlapping changes (not already conflicting on a shared item) where one touches an item the
    other's items depend on, from the CMDB; nothing to ask when no change overlaps or the CMDB is empty."""
    rest = [o for o in scheduled if o.id not in sharing]
    if not rest or not uow.cmdb.has_items():
        return []
    from ..core.schedule.conflicts import dependency_conflicts

    return dependency_conflicts(candidate, rest, _explainer(uow, ctx))


def _explainer(uow: UnitOfWork | ReadOnlyUnit, ctx: Context):
    """The CMDB's answer to "which of these items depend on those", for all the pairs at once: three queries
    however many changes overlap (services/cmdb_index.py)."""
    from .cmdb_index import dependency_paths  # numpy and the graph index: only when there is something to ask

    return lambda asks: dependency_paths(uow, ctx.policy, asks)


def accept_conflict(uow: UnitOfWork, ctx: Context, ref: str, body: AcceptConflictIn) -> list[ConflictOut]:
    from ..db.models import ConflictAcceptance
    from .lookup import load

    change = load(uow, ref, for_update=True)
    other = load(uow, body.other)
    ctx.require(Permission.SCHEDULE_OVERRIDE, entity=f"change:{change.id}")
    start = change.planned_start
    current = [c for c in conflicts_of(uow, ctx, change) if c.other == format_ref(other.id)] if start else []
    if not current:
        raise InvalidInput(f"{format_ref(change.id)} does not conflict with {format_ref(other.id)}", field="other")
    low, high = sorted((change.id, other.id))
    uow.conflict_acceptances.add(ConflictAcceptance(change_id=low, other_change_id=high, reason=body.reason,
                                                    accepted_by=ctx.actor.id, accepted_at=ctx.now))
    uow.changes.touch(change, ctx.now)
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="conflict.accepted", entity=f"change:{change.id}",
                                 detail={"other": format_ref(other.id), "items": list(current[0].items),
                                         "reason": body.reason}), ctx.now)
    return [_conflict_out(format_ref(change.id), c) for c in conflicts_of(uow, ctx, change)]


def _conflict_out(ref: str, c: ChangeConflict) -> ConflictOut:
    return ConflictOut(change=ref, other=c.other, items=list(c.items), start=c.start, end=c.end, accepted=c.accepted,
                       through=list(c.through))


def list_conflicts(uow: UnitOfWork, ctx: Context, ref: str) -> list[ConflictOut]:
    from .lookup import load

    change = load(uow, ref)
    ctx.require(Permission.CHANGE_READ)
    return [_conflict_out(format_ref(change.id), c) for c in conflicts_of(uow, ctx, change)]


# --- the check made when a change is scheduled -------------------------------------------------


def check_slot(uow: UnitOfWork, ctx: Context, change: Change, override_reason: str = "") -> tuple[Decision, dict]:
    """Scheduling verdict for the change's planned slot: schedule rules and unaccepted conflicts.

    An emergency change may override a blackout that allows it, but only with a typed reason by a
    holder of ``schedule.override``; the override is returned for the audit record.
    """
    if change.planned_start is None:
        return Decision.allow(), {}
    items = [i.name for i in change.items]
    verdict: Decision = explain_slot(uow, ctx, change.environment, change.planned_start, _duration(change), items)
    detail: dict = {}
    problems: list[Reason] = []
    if not verdict.allowed and change.type == ChangeType.EMERGENCY.value:
        may_override = authorize(ctx.policy, ctx.actor, Permission.SCHEDULE_OVERRIDE).allowed
        emergency = explain_slot(uow, ctx, change.environment, change.planned_start, _duration(change), items,
                                 emergency=True)
        if emergency.allowed and override_reason.strip() and may_override:
            verdict = emergency
            detail = {"emergency_override": {"reason": override_reason, "overridden": verdict.summary()}}
        elif emergency.allowed:
            problems.append(Reason("override_needed", "an emergency change may override this, with a typed reason "
                                   "(--override-reason) by a holder of schedule.override"))
    if not verdict.allowed:
        problems = [*(r for r in verdict.reasons if r.code in _PROBLEM_CODES), *problems]
    problems += [Reason("conflict", c.sentence) for c in conflicts_of(uow, ctx, change) if not c.accepted]
    return Decision.from_problems(problems), detail


def slot_problems(uow: UnitOfWork, ctx: Context, change: Change) -> list[str]:
    """Why a scheduled change's slot is no longer valid (a new freeze, a new conflict); empty if fine."""
    if change.state != "scheduled" or change.planned_start is None:
        return []
    decision, _ = check_slot(uow, ctx, change, override_reason="")
    if change.type == ChangeType.EMERGENCY.value and not decision.allowed:
        # An emergency scheduled through an audited override stays valid while the override still applies.
        decision = Decision.from_problems(r for r in decision.reasons if r.code != "override_needed")
        emergency = explain_slot(uow, ctx, change.environment, change.planned_start, _duration(change),
                                 [i.name for i in change.items], emergency=True)
        if emergency.allowed:
            decision = Decision.from_problems(r for r in decision.reasons if r.code == "conflict")
    return [r.message for r in decision.reasons]


# --- next slot ----------------------------------------------------------------------------------


def next_slot(uow: UnitOfWork | ReadOnlyUnit, ctx: Context, q: SlotQuery) -> SlotOut:
    """The earliest allowed slot; with ``q.change``, ``uow`` must be a ``UnitOfWork`` (the change is loaded)."""
    ctx.require(Permission.CHANGE_READ)
    _known_environment(ctx, q.environment)
    items, emergency, own_id = list(q.items), q.emergency, None
    if q.change:
        from .lookup import load

        change = load(uow, q.change)
        items = items or [i.name for i in change.items]
        emergency = emergency or change.type == ChangeType.EMERGENCY.value
        own_id = change.id
    after = q.after or ctx.now
    mine = frozenset(items)
    # Slots other changes already hold on the same items, or on items related to them through dependencies
    # (the CMDB): the answer must not conflict with them.
    held = [o for o in uow.schedule_reads.held_slots(after, after + HORIZON, environment=q.environment)
            if o.change_id != own_id]
    related = _related_holders(uow, ctx, mine, [o for o in held if not mine & o.items])
    busy = [(o.start, o.start + max(o.downtime, _MIN_HOLD)) for o in held
            if mine & o.items or o.change_id in related]
    d = engine.next_slot(ctx.policy.schedule, _context(ctx, q.environment, items, emergency),
                         timedelta(minutes=q.duration), after, _freezes(uow, after, after + HORIZON), HORIZON, busy)
    return _slot_out(q.environment, d, ctx.policy.schedule.timezone_for(q.environment))


def _related_holders(uow: UnitOfWork | ReadOnlyUnit, ctx: Context, mine: frozenset[str], holders: list) -> set[int]:
    """Which holders' items depend on ``mine`` or are depended on by them (either way), in one ask."""
    if not mine or not holders or not uow.cmdb.has_items():
        return set()
    asks = [ask for o in holders for ask in ((mine, o.items - mine), (o.items, mine - o.items))]
    answers = _explainer(uow, ctx)(asks)
    return {o.change_id for k, o in enumerate(holders) if answers[2 * k] or answers[2 * k + 1]}


# --- ad-hoc freezes -----------------------------------------------------------------------------


def _freeze_out(f: Freeze) -> FreezeOut:
    return FreezeOut(id=f.id, name=f.name, start=f.starts_at, end=f.ends_at, reason=f.reason,
                     environments=list(f.environments), items=list(f.items),
                     emergency_override=f.emergency_override, created_by=f.created_by, created_at=f.created_at,
                     lifted_at=f.lifted_at)


def add_freeze(uow: UnitOfWork, ctx: Context, body: FreezeIn) -> tuple[FreezeOut, list[str]]:
    """Declare an ad-hoc freeze; returns it and the scheduled changes whose slot it now blocks."""
    from ..db.models import Freeze

    ctx.require(Permission.SCHEDULE_OVERRIDE, entity="freeze")
    if body.end <= body.start:
        raise InvalidInput("the freeze ends before it starts", field="end")
    for env in body.environments:
        _known_environment(ctx, env)
    freeze = uow.freezes.add(Freeze(
        name=body.name, environments=list(body.environments), items=list(body.items),
        starts_at=body.start, ends_at=body.end, reason=body.reason, emergency_override=body.emergency_override,
        created_by=ctx.actor.id, created_at=ctx.now,
    ))
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="freeze.added", entity=f"freeze:{freeze.id}",
                                 after=_freeze_out(freeze).model_dump(mode="json")), ctx.now)
    affected = [
        format_ref(c.id) for c in uow.changes.scheduled_between(body.start, body.end)
        if slot_problems(uow, ctx, c)
    ]
    return _freeze_out(freeze), affected


def declare_freeze(uow: UnitOfWork, ctx: Context, body: FreezeIn) -> FreezeCreated:
    """A freeze as every adapter answers it: the freeze and the scheduled changes whose slot it now blocks."""
    freeze, affected = add_freeze(uow, ctx, body)
    return FreezeCreated(**freeze.model_dump(), affected_changes=affected)


def lift_freeze(uow: UnitOfWork, ctx: Context, freeze_id: int, reason: str) -> FreezeOut:
    ctx.require(Permission.SCHEDULE_OVERRIDE, entity=f"freeze:{freeze_id}")
    freeze = uow.freezes.get(freeze_id)
    if freeze is None:
        raise NotFound(f"no freeze {freeze_id}")
    if freeze.lifted_at is not None:
        raise Refused(f"freeze {freeze_id} was already lifted at {freeze.lifted_at.isoformat()}")
    freeze.lifted_at = ctx.now
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="freeze.lifted", entity=f"freeze:{freeze.id}",
                                 detail={"reason": reason}), ctx.now)
    return _freeze_out(freeze)


def list_freezes(uow: UnitOfWork, ctx: Context, start: datetime, end: datetime) -> list[FreezeOut]:
    ctx.require(Permission.CHANGE_READ)
    return [_freeze_out(f) for f in uow.freezes.active_overlapping(start, end)]


# --- the calendar -------------------------------------------------------------------------------


def calendar_range(now: datetime, start: datetime | None = None,
                   end: datetime | None = None) -> tuple[datetime, datetime]:
    """The range a calendar or freeze list covers: from ``start`` (default now) to ``end`` (default 30 days on)."""
    start = start or now
    return start, end or start + CALENDAR_DEFAULT_SPAN


def calendar(uow: UnitOfWork, ctx: Context, start: datetime, end: datetime,
             environment: str | None = None) -> CalendarOut:
    ctx.require(Permission.CHANGE_READ)
    if end <= start:
        raise InvalidInput("the calendar range ends before it starts", field="to")
    if end - start > HORIZON:
        raise InvalidInput("the calendar range is longer than 366 days", field="to")
    environments = [environment] if environment else list(ctx.policy.environments)
    for env in environments:
        _known_environment(ctx, env)
    freezes = _freezes(uow, start, end)
    entries: list[CalendarEntryOut] = []
    for env in environments:
        for e in engine.calendar_entries(ctx.policy.schedule, env, start, end, freezes):
            entries.append(CalendarEntryOut(kind=e.kind, name=e.name, rule=e.rule, environment=env, start=e.start,
                                            end=e.end, timezone=e.timezone, emergency_override=e.emergency_override,
                                            description=e.description))
    conflicts: list[ConflictOut] = []
    for env in environments:
        scheduled = uow.changes.scheduled_between(start, end, environment=env)
        by_id = {str(c.id): c for c in scheduled}
        for c in scheduled:
            entries.append(CalendarEntryOut(
                kind="change", name=c.title, rule=c.type, environment=env, start=c.planned_start,
                end=c.planned_start + _duration(c), timezone="UTC", change=format_ref(c.id), state=c.state,
                description=f"{format_ref(c.id)} {c.release_level} {c.category}; items: "
                            f"{', '.join(i.name for i in c.items)}",
            ))
        for found in _calendar_conflicts(uow, ctx, [_as_scheduled(c) for c in scheduled]):
            accepted = int(found.second) in uow.conflict_acceptances.accepted_with(int(found.first))
            conflicts.append(ConflictOut(change=format_ref(by_id[found.first].id), other=format_ref(int(found.second)),
                                         items=list(found.items), start=found.start, end=found.end, accepted=accepted,
                                         through=list(found.through)))
    entries.sort(key=lambda e: (e.start, e.kind, e.environment, e.name))
    return CalendarOut(start=start, end=end, entries=entries, conflicts=conflicts)


def _calendar_conflicts(uow: UnitOfWork, ctx: Context, scheduled: list[engine.ScheduledChange]) -> list:
    """Conflicts on shared items, then through dependencies (the CMDB) between the other overlapping pairs."""
    shared = engine.find_conflicts(scheduled)
    if len(scheduled) < 2 or not uow.cmdb.has_items():
        return shared
    from ..core.schedule.conflicts import dependency_conflicts_among

    through = dependency_conflicts_among(scheduled, _explainer(uow, ctx),
                                         {frozenset((c.first, c.second)) for c in shared})
    return sorted(shared + through, key=lambda c: c.start)


def calendar_ics(cal: CalendarOut, now: datetime) -> bytes:
    """RFC 5545 text of a calendar, for Outlook and Google Calendar subscriptions."""
    import icalendar

    ics = icalendar.Calendar()
    ics.add("prodid", "-//changegate//change calendar//EN")
    ics.add("version", "2.0")
    ics.add("x-wr-calname", "changegate change calendar")
    for e in cal.entries:
        event = icalendar.Event()
        key = e.change or f"{e.kind}-{e.environment}-{e.name}"
        event.add("uid", f"{key}-{e.start:%Y%m%dT%H%M%SZ}@changegate")
        event.add("dtstamp", now)
        event.add("dtstart", e.start)
        event.add("dtend", e.end if e.end > e.start else e.start + _MIN_HOLD)
        label = {"window": "Deployment window", "blackout": "Blackout", "change": e.change or "Change"}[e.kind]
        event.add("summary", f"{label}: {e.name} [{e.environment}]")
        if e.description:
            event.add("description", e.description)
        event.add("categories", [e.kind])
        event.add("transp", "TRANSPARENT" if e.kind == "window" else "OPAQUE")
        ics.add_component(event)
    return ics.to_ical()
