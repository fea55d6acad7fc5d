"""The schedule engine: may a change run in this slot, when is the next slot, what is on the calendar.

Pure functions of the policy, a context and explicit instants ("now" always comes
in). Windows and blackouts are wall-clock rules of the environment's zone; they are
expanded one local day at a time into UTC intervals (``schedule_time``) and searched
with interval arithmetic, never minute by minute.

A slot is allowed when the whole interval [start, start + duration) lies inside one
window occurrence and overlaps no applicable blackout or ad-hoc freeze. An emergency
change ignores blackouts that allow an emergency override and, unless the policy
says otherwise, the windows. A zero duration is checked as an instant.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Iterable, Literal

from ..decisions import Decision, Reason
from ..policy.durations import format_minutes
from .conflicts import Conflict, ScheduledChange, conflicts_with, find_conflicts
from .rules import in_scope

if TYPE_CHECKING:  # the models: not imported at run time, the engine reads plain data as well (rules.py)
    from .policy import BlackoutRule, SchedulePolicy, Window
from .localtime import (
    DAY,
    MINUTE,
    ZoneClock,
    ceil_minute,
    ceil_seconds,
    floor_seconds,
    local_span_text,
    utc,
    wall_seconds,
    zone_clock,
)

__all__ = [
    "AdhocFreeze", "BlackoutRule", "CalendarEntry", "Conflict", "DatesBlackout", "EnvironmentSchedule",
    "HolidaysBlackout", "MonthlyDay", "QuarterEndBlackout", "ScheduleCode", "ScheduleContext", "ScheduleDecision",
    "SchedulePolicy", "ScheduledChange", "ShiftChangeBlackout", "WeeklyBlackout", "Window", "WindowOccurrence",
    "calendar_entries", "conflicts_with", "explain", "find_conflicts", "next_slot",
]

_ONE_DAY = timedelta(days=1)
_MODELS = frozenset({"BlackoutRule", "DatesBlackout", "EnvironmentSchedule", "HolidaysBlackout", "MonthlyDay",
                     "QuarterEndBlackout", "SchedulePolicy", "ShiftChangeBlackout", "WeeklyBlackout", "Window"})


def __getattr__(name: str):
    """The policy's models, re-exported for callers as before, imported (with pydantic) only when asked for."""
    if name in _MODELS:
        from . import policy

        return getattr(policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ScheduleCode(StrEnum):
    # problems: the slot is not allowed
    OUTSIDE_WINDOW = "outside_window"
    WINDOW_TOO_SHORT = "window_too_short"
    NO_WINDOW = "no_window"
    BLACKOUT = "blackout"
    NO_SLOT = "no_slot"
    # information on an allowed slot
    INSIDE_WINDOW = "inside_window"
    EMERGENCY_OVERRIDE = "emergency_override"
    EMERGENCY_OUTSIDE_WINDOW = "emergency_outside_window"
    NOT_ENFORCED = "schedule_not_enforced"


@dataclass(frozen=True, slots=True)
class ScheduleContext:
    """What is being scheduled: where, which configuration items, and whether it is an emergency."""

    environment: str
    site: str | None = None
    items: frozenset[str] = frozenset()
    emergency: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", frozenset(self.items))


@dataclass(frozen=True, slots=True)
class AdhocFreeze:
    """A freeze a change manager declares at run time, between two instants; scoped like a blackout."""

    name: str
    start: datetime
    end: datetime
    environments: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    emergency_override: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if floor_seconds(self.start) >= ceil_seconds(self.end):
            raise ValueError(f"freeze {self.name!r} ends before it starts")
        for scope in ("environments", "sites", "items"):
            object.__setattr__(self, scope, tuple(getattr(self, scope)))


@dataclass(frozen=True, slots=True)
class WindowOccurrence:
    """One concrete opening of a window."""

    name: str
    timezone: str
    start: datetime  # UTC
    end: datetime  # UTC
    local_start: datetime  # the same instants in the window's zone
    local_end: datetime

    def to_dict(self) -> dict:
        return {"name": self.name, "timezone": self.timezone, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "local_start": self.local_start.isoformat(),
                "local_end": self.local_end.isoformat()}


@dataclass(frozen=True, slots=True)
class ScheduleDecision(Decision):
    """A Decision about one slot; ``window`` is the occurrence holding the whole slot, if any."""

    start: datetime | None = None  # UTC; None when next_slot found nothing
    end: datetime | None = None
    window: WindowOccurrence | None = None

    def to_dict(self) -> dict:
        return {**Decision.to_dict(self),
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "window": self.window.to_dict() if self.window else None}


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    kind: Literal["window", "blackout"]
    name: str
    rule: str  # weekly, monthly, shift_change, dates, quarter_end, holidays, adhoc
    start: datetime  # UTC, clipped to the requested range
    end: datetime
    timezone: str
    emergency_override: bool = False
    description: str = ""


_Hit = tuple[int, int, "BlackoutRule", date, int, int]  # UTC start, end, rule, day, first and last wall minute


class _Plan:
    """A policy seen from one context: the rules that apply and their UTC intervals per local day."""

    def __init__(self, policy: SchedulePolicy, ctx: ScheduleContext, extra: Iterable[BlackoutRule | AdhocFreeze],
                 *, any_site_or_item: bool = False):
        self.ctx = ctx
        self.clock: ZoneClock = zone_clock(policy.timezone_for(ctx.environment))
        self.enforced = policy.enforced(ctx.environment)

        def applies(rule: object) -> bool:
            return self.enforced and in_scope(rule, ctx.environment, ctx.site, ctx.items,
                                              any_site_or_item=any_site_or_item)

        def overridden(rule: BlackoutRule | AdhocFreeze) -> bool:
            return ctx.emergency and rule.emergency_override

        extra = tuple(extra)
        self.windows = tuple(w for w in policy.windows if applies(w))
        self.use_windows = self.enforced and not (ctx.emergency and policy.emergency_outside_windows)
        rules = [r for r in (*policy.blackouts, *(x for x in extra if not isinstance(x, AdhocFreeze))) if applies(r)]
        self.blocking = [r for r in rules if not overridden(r)]
        self.overridden = [r for r in rules if overridden(r)]
        freezes = [f for f in extra if isinstance(f, AdhocFreeze) and applies(f)]
        self.freezes = [f for f in freezes if not overridden(f)]
        self.overridden_freezes = [f for f in freezes if overridden(f)]
        self._days: dict[date, tuple[bool, list[tuple[int, int]]]] = {}

    def window_pieces(self, day: date) -> list[tuple[int, int, Window]]:
        base = wall_seconds(day)
        return [(a, b, w) for w in self.windows if w.occurs_on(day)
                for a, b in self.clock.to_utc(base + w.start_minute * MINUTE, base + w.end_minute * MINUTE)]

    def rule_hits(self, rule: BlackoutRule, day: date) -> list[_Hit]:
        base = wall_seconds(day)
        return [(a, b, rule, day, first, last) for first, last in rule.minutes_on(day)
                for a, b in self.clock.to_utc(base + first * MINUTE, base + last * MINUTE)]

    def blocked(self, day: date) -> tuple[bool, list[tuple[int, int]]]:
        """Whether a blocking rule takes the whole wall day, and the UTC intervals its rules block."""
        known = self._days.get(day)
        if known is None:
            whole, spans = False, []
            base = wall_seconds(day)
            for rule in self.blocking:
                for first, last in rule.minutes_on(day):
                    whole = whole or (first <= 0 and last >= 1440)
                    spans += self.clock.to_utc(base + first * MINUTE, base + last * MINUTE)
            known = self._days[day] = (whole, spans)
        return known

    def occurrence(self, piece: tuple[int, int, Window]) -> WindowOccurrence:
        a, b, window = piece
        return WindowOccurrence(window.name, self.clock.name, utc(a), utc(b), self.clock.local(a), self.clock.local(b))

    def no_window(self) -> Reason:
        where = [f"environment {self.ctx.environment!r}"]
        if self.ctx.site:
            where.append(f"site {self.ctx.site!r}")
        if self.ctx.items:
            where.append(f"items {', '.join(sorted(self.ctx.items))}")
        return Reason(ScheduleCode.NO_WINDOW, f"no deployment window applies to {', '.join(where)}")


def _seconds(duration: timedelta) -> int:
    if duration < timedelta(0):
        raise ValueError(f"duration {duration} is negative")
    return math.ceil(duration.total_seconds())


def _duration_text(seconds: int) -> str:
    return format_minutes(-(-seconds // MINUTE))


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _first_fit(start: int, latest: int, span: int, blocks: list[tuple[int, int]]) -> int | None:
    """The first whole-minute start in [start, latest] whose [s, s + span) misses every block.

    ``blocks`` is merged and sorted, so each block only ever pushes the start past itself.
    """
    s = ceil_minute(start)
    for a, b in blocks:
        if s > latest:
            return None
        if b <= s:
            continue
        if a >= s + span:
            break
        s = ceil_minute(b)
    return s if s <= latest else None


def explain(policy: SchedulePolicy, ctx: ScheduleContext, start: datetime, duration: timedelta,
            extra_blackouts: Iterable[BlackoutRule | AdhocFreeze] = ()) -> ScheduleDecision:
    """Whether [start, start + duration) may hold the change, with every reason."""
    return _explain(_Plan(policy, ctx, extra_blackouts), floor_seconds(start), _seconds(duration))


def _explain(plan: _Plan, s: int, duration: int) -> ScheduleDecision:
    ctx = plan.ctx
    if not plan.enforced:
        return ScheduleDecision(True, (Reason(ScheduleCode.NOT_ENFORCED, f"the schedule is not enforced in "
                                                                         f"{ctx.environment}: any time is allowed"),),
                                utc(s), utc(s + duration))
    e = s + max(duration, 1)
    text = local_span_text(plan.clock, s, s + duration)
    problems: list[Reason] = []
    notes: list[Reason] = []
    window = _window_reasons(plan, s, e, duration, text, problems, notes)
    _blackout_reasons(plan, s, e, text, problems, notes)
    _freeze_reasons(plan, s, e, text, problems, notes)
    return ScheduleDecision(not problems, (*problems, *notes), utc(s), utc(s + duration), window)


def _window_reasons(plan: _Plan, s: int, e: int, duration: int, text: str,
                    problems: list[Reason], notes: list[Reason]):
    """Whether [s, e) sits inside a deployment window; returns the window occurrence that holds it."""
    ref = plan.clock.local_date(s)
    holding = [p for day in (ref - _ONE_DAY, ref) for p in plan.window_pieces(day) if p[0] <= s < p[1]]
    fitting = [p for p in holding if e <= p[1]]
    window = plan.occurrence(fitting[0]) if fitting else None
    if not plan.use_windows:
        if not fitting:
            notes.append(Reason(ScheduleCode.EMERGENCY_OUTSIDE_WINDOW,
                                "emergency change: it may start outside the deployment windows"))
    elif not plan.windows:
        problems.append(plan.no_window())
    elif fitting:
        w = fitting[0][2]
        notes.append(Reason(ScheduleCode.INSIDE_WINDOW, f"{text} fits window {w.name!r} ({w.start}–{w.end})"))
    elif holding:
        a, b, w = max(holding, key=lambda p: p[1])
        longer = f"; {_duration_text(duration)} is longer than the window" if duration > b - a else ""
        problems.append(Reason(ScheduleCode.WINDOW_TOO_SHORT, f"{text} runs {_duration_text(e - b)} past the end of "
                                                              f"window {w.name!r} ({w.start}–{w.end}){longer}"))
    else:
        that_day = [w for w in plan.windows if w.occurs_on(ref)]
        listed = (f"windows on {ref:%a %Y-%m-%d}: " + ", ".join(f"{w.name!r} {w.start}–{w.end}" for w in that_day)
                  if that_day else f"no deployment window on {ref:%a %Y-%m-%d}")
        problems.append(Reason(ScheduleCode.OUTSIDE_WINDOW,
                               f"{text} starts outside every deployment window ({listed})"))
    return window


def _blackout_reasons(plan: _Plan, s: int, e: int, text: str, problems: list[Reason], notes: list[Reason]) -> None:
    """Every blackout rule that [s, e) overlaps: a problem, or a note where an emergency overrides it."""
    clock = plan.clock
    ref = clock.local_date(s)
    days = [ref - _ONE_DAY]
    while days[-1] <= clock.local_date(e - 1):
        days.append(days[-1] + _ONE_DAY)
    held = "; it holds for emergency changes too" if plan.ctx.emergency else ""
    for overridden, rules in ((False, plan.blocking), (True, plan.overridden)):
        for rule in rules:
            hits = [h for day in days for h in plan.rule_hits(rule, day) if h[0] < e and s < h[1]]
            if not hits:
                continue
            where = "; ".join(dict.fromkeys(rule.describe(day, first, last, ref) for *_, day, first, last in hits))
            if overridden:
                notes.append(Reason(ScheduleCode.EMERGENCY_OVERRIDE,
                                    f"emergency change: blackout {rule.name!r} ({where}) is overridden"))
            else:
                problems.append(Reason(ScheduleCode.BLACKOUT,
                                       f"{text} overlaps blackout {rule.name!r} ({where}){held}"))


def _freeze_reasons(plan: _Plan, s: int, e: int, text: str, problems: list[Reason], notes: list[Reason]) -> None:
    """Every ad-hoc freeze that [s, e) overlaps: a problem, or a note where an emergency overrides it."""
    held = "; it holds for emergency changes too" if plan.ctx.emergency else ""
    for overridden, freezes in ((False, plan.freezes), (True, plan.overridden_freezes)):
        for freeze in freezes:
            a, b = floor_seconds(freeze.start), ceil_seconds(freeze.end)
            if not (a < e and s < b):
                continue
            where = local_span_text(plan.clock, a, b) + (f": {freeze.reason}" if freeze.reason else "")
            if overridden:
                notes.append(Reason(ScheduleCode.EMERGENCY_OVERRIDE,
                                    f"emergency change: freeze {freeze.name!r} ({where}) is overridden"))
            else:
                problems.append(Reason(ScheduleCode.BLACKOUT,
                                       f"{text} overlaps freeze {freeze.name!r} ({where}){held}"))


def next_slot(policy: SchedulePolicy, ctx: ScheduleContext, duration: timedelta, after: datetime,
              extra_blackouts: Iterable[BlackoutRule | AdhocFreeze] = (), horizon: timedelta = timedelta(days=366),
              busy: Iterable[tuple[datetime, datetime]] = ()) -> ScheduleDecision:
    """The earliest whole-minute start >= ``after`` (and <= after + horizon) that is allowed and misses ``busy``.

    ``busy`` holds other changes' slots on the same items, so the answer does not conflict with them.
    Allowed, with start, end and window, when found; otherwise not allowed, saying why.
    """
    if horizon < timedelta(0):
        raise ValueError(f"horizon {horizon} is negative")
    plan = _Plan(policy, ctx, extra_blackouts)
    if plan.use_windows and not plan.windows:
        return ScheduleDecision(False, (plan.no_window(),))
    search = _Search(plan, _seconds(duration), after, horizon, busy)
    day, last_day = plan.clock.local_date(search.first) - _ONE_DAY, plan.clock.local_date(search.last)
    while day <= last_day:
        start = search.on(day)
        if start is not None:
            return _explain(plan, start, search.duration)
        day += _ONE_DAY
    return ScheduleDecision(False, _no_slot_reasons(plan, search, horizon))


class _Search:
    """The search for a free start, one local day at a time: the fixed blocks (freezes, busy slots) and how
    many following days' blackouts a start can touch."""

    def __init__(self, plan: _Plan, duration: int, after: datetime, horizon: timedelta,
                 busy: Iterable[tuple[datetime, datetime]]):
        self.plan, self.duration, self.span = plan, duration, max(duration, 1)
        self.first = ceil_minute(ceil_seconds(after))
        self.last = floor_seconds(after + horizon)
        self.fixed = _merge([*((floor_seconds(f.start), ceil_seconds(f.end)) for f in plan.freezes),
                             *((floor_seconds(a), ceil_seconds(b)) for a, b in busy)])
        self.fixed_starts, self.fixed_ends = [a for a, _ in self.fixed], [b for _, b in self.fixed]
        # Blackouts of how many following days a change starting on a day can touch: a window
        # ends that day; without windows a long change runs on.
        self.reach = 1 if plan.use_windows else self.span // DAY + 2

    def ranges(self, day: date) -> list[tuple[int, int]]:
        """The start ranges [lo, hi] the day offers, within the search's bounds."""
        plan, span = self.plan, self.span
        if plan.use_windows:
            ranges = [(max(a, self.first), min(b - span, self.last)) for a, b, _ in plan.window_pieces(day)]
        else:  # any start whose wall date is this day
            base = wall_seconds(day)
            ranges = [(max(a, self.first), min(b - 1, self.last)) for a, b in plan.clock.to_utc(base, base + DAY)]
        return [(lo, hi) for lo, hi in ranges if lo <= hi]

    def blocks(self, day: date, lo: int, hi: int) -> list[tuple[int, int]]:
        """Every blocked interval a start on ``day`` between lo and hi (plus the span) could meet, merged."""
        blocks = [b for k in range(-1, self.reach + 1) for b in self.plan.blocked(day + timedelta(days=k))[1]]
        blocks += self.fixed[bisect_right(self.fixed_ends, lo):bisect_left(self.fixed_starts, hi)]
        return _merge(blocks)

    def on(self, day: date) -> int | None:
        """The earliest free start on ``day``, if any."""
        if self.plan.blocked(day)[0]:
            return None
        ranges = self.ranges(day)
        if not ranges:
            return None
        blocks = self.blocks(day, min(r[0] for r in ranges), max(r[1] for r in ranges) + self.span)
        starts = [s for s in (_first_fit(lo, hi, self.span, blocks) for lo, hi in ranges) if s is not None]
        return min(starts) if starts else None


def _no_slot_reasons(plan: _Plan, search: _Search, horizon: timedelta) -> tuple[Reason, ...]:
    """Why no slot was found: no window is long enough, or none is free within the horizon."""
    if plan.use_windows:
        longest = max(plan.windows, key=lambda w: w.minutes)
        if search.span > longest.minutes * MINUTE:
            return (Reason(ScheduleCode.WINDOW_TOO_SHORT,
                           f"no window is long enough for {_duration_text(search.duration)}: the longest is "
                           f"{format_minutes(longest.minutes)} ({longest.name!r})"),)
    days = horizon / _ONE_DAY
    within = f"{days:g} days" if days == int(days) else format_minutes(int(horizon.total_seconds()) // MINUTE)
    return (Reason(ScheduleCode.NO_SLOT, f"no free slot of {_duration_text(search.duration)} within {within} "
                                         f"after {local_span_text(plan.clock, search.first, search.first)}"),)


def calendar_entries(policy: SchedulePolicy, ctx_or_environment: ScheduleContext | str, start: datetime,
                     end: datetime, extra_blackouts: Iterable[BlackoutRule | AdhocFreeze] = ()) -> list[CalendarEntry]:
    """Window occurrences and blackouts between start and end as UTC intervals, clipped to that range.

    Given an environment name, every rule that may apply in it is listed, whatever its site or
    item scope. Consecutive days of one blackout (a quarter end, a peak season) form one entry.
    An environment whose schedule is not enforced has no entries.
    """
    loose = isinstance(ctx_or_environment, str)
    ctx = ScheduleContext(ctx_or_environment) if loose else ctx_or_environment
    plan = _Plan(policy, ctx, extra_blackouts, any_site_or_item=loose)
    s, e = floor_seconds(start), ceil_seconds(end)
    if not plan.enforced or s >= e:
        return []
    days = [plan.clock.local_date(s) - _ONE_DAY]
    while days[-1] <= plan.clock.local_date(e):
        days.append(days[-1] + _ONE_DAY)
    entries = [*_window_entries(plan, days, s, e),
               *(entry for rule in (*plan.blocking, *plan.overridden) for entry in _rule_entries(plan, rule, days, s, e)),
               *_freeze_entries(plan, s, e)]
    return sorted(entries, key=lambda x: (x.start, x.kind != "window", x.name))


def _window_entries(plan: _Plan, days: list[date], s: int, e: int) -> list[CalendarEntry]:
    return [CalendarEntry("window", w.name, "monthly" if w.monthly else "weekly", utc(max(a, s)), utc(min(b, e)),
                          plan.clock.name, description=w.describe())
            for day in days for a, b, w in plan.window_pieces(day) if a < e and s < b]


def _runs(hits: Iterable[_Hit]) -> list[tuple[int, int, list[_Hit]]]:
    """Touching or overlapping hits merged: (start, end, hits)."""
    runs: list[tuple[int, int, list[_Hit]]] = []
    for hit in sorted(hits, key=lambda h: h[:2]):
        if runs and hit[0] <= runs[-1][1]:
            a, b, merged = runs[-1]
            runs[-1] = (a, max(b, hit[1]), [*merged, hit])
        else:
            runs.append((hit[0], hit[1], [hit]))
    return runs


def _rule_entries(plan: _Plan, rule: BlackoutRule, days: list[date], s: int, e: int) -> list[CalendarEntry]:
    """One entry per run of a blackout rule's consecutive hits (a quarter end is one entry, not ten)."""
    entries = []
    for a, b, hits in _runs(h for day in days for h in plan.rule_hits(rule, day)):
        if a < e and s < b:
            where = "; ".join(dict.fromkeys(rule.describe(day, f, l) for *_, day, f, l in hits))
            entries.append(CalendarEntry("blackout", rule.name, rule.kind, utc(max(a, s)), utc(min(b, e)),
                                         plan.clock.name, rule.emergency_override, where))
    return entries


def _freeze_entries(plan: _Plan, s: int, e: int) -> list[CalendarEntry]:
    entries = []
    for freeze in (*plan.freezes, *plan.overridden_freezes):
        a, b = floor_seconds(freeze.start), ceil_seconds(freeze.end)
        if a < e and s < b:
            entries.append(CalendarEntry("blackout", freeze.name, "adhoc", utc(max(a, s)), utc(min(b, e)),
                                         plan.clock.name, freeze.emergency_override, freeze.reason))
    return entries
