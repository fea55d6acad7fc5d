"""next_slot and explain against a brute-force oracle on random small policies.

The oracle shares nothing with the engine's interval code: it converts each minute to
local wall-clock time and asks every rule, as the policy file reads, whether that
minute is inside a window occurrence or a blackout. A slot is allowed when every
minute of it is free and all of them belong to one window occurrence.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changegate.core.schedule.engine import (
    AdhocFreeze,
    ScheduleContext,
    SchedulePolicy,
    Window,
    explain,
    next_slot,
)
from changegate.core.schedule.policy import DAYS

UTC = timezone.utc
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]
# Around DST changes of Berlin and New York, the ends of a quarter and of a year, and anywhere.
ANCHORS = [datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC),
           datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC)]
HORIZON = timedelta(days=8)
MAX_DURATION = 240


# --- the oracle ------------------------------------------------------------------------------


def _hm(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:])


def _applies(rule, ctx: ScheduleContext) -> bool:
    return ((not rule.environments or ctx.environment in rule.environments)
            and (not rule.sites or ctx.site in rule.sites)
            and (not rule.items or bool(ctx.items & set(rule.items))))


def _window_on(window: Window, day: date) -> bool:
    if window.monthly is None:
        return DAYS[day.weekday()] in window.days
    if DAYS[day.weekday()] != window.monthly.day:
        return False
    if window.monthly.week == "last":
        return (day + timedelta(days=7)).month != day.month
    return (day.day - 1) // 7 + 1 == window.monthly.week


@lru_cache(maxsize=None)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def _blackout_covers(rule, wall: datetime) -> bool:
    day, minute = wall.date(), wall.hour * 60 + wall.minute
    match rule.kind:
        case "weekly":
            return DAYS[day.weekday()] in rule.days and _hm(rule.start) <= minute < _hm(rule.end)
        case "shift_change":
            margin = timedelta(minutes=rule.margin)
            return any(datetime.combine(d, time.fromisoformat(t)) - margin <= wall
                       < datetime.combine(d, time.fromisoformat(t)) + margin
                       for t in rule.times for d in (day - timedelta(days=1), day, day + timedelta(days=1)))
        case "dates":
            return rule.start <= day <= rule.end
        case "quarter_end":
            quarter_start_month = (day.month - 1) // 3 * 3 + 1
            next_quarter = (date(day.year + 1, 1, 1) if quarter_start_month == 10
                            else date(day.year, quarter_start_month + 3, 1))
            return (next_quarter - day).days <= rule.days
        case "holidays":
            return day in _holidays(rule.country, rule.subdivision, day.year)
    raise AssertionError(rule.kind)


class Oracle:
    """Per-minute facts over [start, end): free or not, and which window occurrences hold the minute."""

    def __init__(self, policy: SchedulePolicy, ctx: ScheduleContext, extra: list[AdhocFreeze],
                 busy: list[tuple[datetime, datetime]]):
        self.policy, self.ctx, self.busy = policy, ctx, busy
        self.zone = ZoneInfo(policy.timezone_for(ctx.environment))
        self.enforced = policy.enforced(ctx.environment)
        self.windows_apply = self.enforced and not (ctx.emergency and policy.emergency_outside_windows)
        hard = lambda r: _applies(r, ctx) and not (ctx.emergency and r.emergency_override)  # noqa: E731
        self.blackouts = [b for b in policy.blackouts if hard(b)] if self.enforced else []
        self.freezes = [f for f in extra if hard(f)] if self.enforced else []
        self.windows = [w for w in policy.windows if _applies(w, ctx)]

    def free(self, t: datetime, with_busy: bool) -> bool:
        wall = t.astimezone(self.zone).replace(tzinfo=None)
        if any(_blackout_covers(b, wall) for b in self.blackouts):
            return False
        if any(f.start <= t < f.end for f in self.freezes):
            return False
        return not (with_busy and any(a <= t < b for a, b in self.busy))

    def occurrences(self, t: datetime) -> set[tuple[str, date]]:
        wall = t.astimezone(self.zone).replace(tzinfo=None)
        minute = wall.hour * 60 + wall.minute
        return {(w.name, wall.date()) for w in self.windows
                if _window_on(w, wall.date()) and _hm(w.start) <= minute < _hm(w.end)}

    def allowed_starts(self, start: datetime, count: int, duration: int, with_busy: bool) -> list[bool]:
        """For each of ``count`` minutes from start: may a change of ``duration`` minutes start then?"""
        length = count + max(duration, 1)
        minutes = [start + timedelta(minutes=k) for k in range(length)]
        free = [self.free(t, with_busy) for t in minutes]
        occ = [self.occurrences(t) for t in minutes] if self.windows_apply else None
        # Runs from the end: how many minutes from k on are free / held by the same occurrence.
        free_run, occ_run = [0] * (length + 1), [dict() for _ in range(length + 1)]
        for k in range(length - 1, -1, -1):
            free_run[k] = free_run[k + 1] + 1 if free[k] else 0
            if occ is not None:
                occ_run[k] = {o: occ_run[k + 1].get(o, 0) + 1 for o in occ[k]}
        need = max(duration, 1)
        return [free_run[k] >= need and (occ is None or any(n >= need for n in occ_run[k].values()))
                for k in range(count)]


# --- random policies -------------------------------------------------------------------------

quarter_hours = st.integers(0, 95).map(lambda q: q * 15)


def some_days(at_most: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(DAYS), min_size=1, max_size=at_most, unique=True)


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def windows(draw) -> list[dict]:
    kept: list[Window] = []
    for i in range(draw(st.integers(1, 3))):
        start = draw(quarter_hours)
        end = min(1440, start + draw(st.integers(1, 24)) * 15)
        if draw(st.integers(0, 5)) == 0:
            when = {"monthly": {"week": draw(st.sampled_from([1, 2, 3, 4, 5, "last"])),
                                "day": draw(st.sampled_from(DAYS))}}
        else:
            when = {"days": draw(some_days(7))}
        scope = {"environments": ["dev"]} if draw(st.integers(0, 7)) == 0 else {}
        window = Window(name=f"w{i}", start=clock(start), end=clock(end), **when, **scope)
        if not any(window.overlaps(k) and window.scope_key() == k.scope_key() for k in kept):
            kept.append(window)
    return [w.model_dump() for w in kept]


@st.composite
def blackouts(draw, around: datetime) -> list[dict]:
    common = lambda i: {"name": f"b{i}", "emergency_override": draw(st.booleans())}  # noqa: E731
    chosen = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(
            ["weekly", "weekly_part", "shift_change", "dates", "quarter_end", "holidays"]), max_size=4))):
        rule = common(i)
        if kind == "weekly":
            rule |= {"kind": "weekly", "days": draw(some_days(2))}
        elif kind == "weekly_part":
            start = draw(quarter_hours)
            rule |= {"kind": "weekly", "days": draw(some_days(3)),
                     "start": clock(start), "end": clock(min(1440, start + draw(st.integers(1, 16)) * 15))}
        elif kind == "shift_change":
            rule |= {"kind": "shift_change", "margin": draw(st.integers(1, 8)) * 15,
                     "times": [clock(t) for t in draw(st.lists(quarter_hours, min_size=1, max_size=3, unique=True))]}
        elif kind == "dates":
            first = around.date() + timedelta(days=draw(st.integers(-3, 8)))
            rule |= {"kind": "dates", "start": first, "end": first + timedelta(days=draw(st.integers(0, 3)))}
        elif kind == "quarter_end":
            rule |= {"kind": "quarter_end", "days": draw(st.integers(1, 31))}
        else:
            rule |= {"kind": "holidays", "country": "DE", "subdivision": "BY"}
        if draw(st.integers(0, 7)) == 0:
            rule["environments"] = ["dev"]
        chosen.append(rule)
    return chosen


def intervals(draw, around: datetime, count: int) -> list[tuple[datetime, datetime]]:
    out = []
    for _ in range(count):
        start = around + timedelta(minutes=draw(st.integers(-600, 6 * 1440)))
        out.append((start, start + timedelta(minutes=draw(st.integers(1, 600)))))
    return out


@st.composite
def scenarios(draw):
    after = draw(st.sampled_from(ANCHORS)) + timedelta(minutes=draw(st.integers(0, 4 * 1440)),
                                                       seconds=draw(st.sampled_from([0, 0, 1, 59])))
    emergency = draw(st.booleans())
    policy = SchedulePolicy.model_validate({
        "timezone": draw(st.sampled_from(ZONES)),
        "environments": {"prod": {"enforce": False}} if draw(st.integers(0, 15)) == 0 else {},
        "emergency_outside_windows": draw(st.booleans()),
        "windows": draw(windows()),
        "blackouts": draw(blackouts(after)),
    })
    whole_minute = after.replace(second=0)  # freezes and busy slots on whole minutes, as the oracle checks
    freezes = [AdhocFreeze(f"f{i}", a, b, emergency_override=draw(st.booleans()))
               for i, (a, b) in enumerate(intervals(draw, whole_minute, draw(st.integers(0, 2))))]
    busy = intervals(draw, whole_minute, draw(st.integers(0, 2)))
    duration = draw(st.one_of(st.just(0), st.integers(1, MAX_DURATION)))
    return policy, ScheduleContext("prod", emergency=emergency), after, duration, freezes, busy


def _first_minute(after: datetime) -> datetime:
    floor = after.replace(second=0, microsecond=0)
    return floor if floor == after else floor + timedelta(minutes=1)


# Each example asks the oracle about HORIZON's 11,520 minutes once, then checks next_slot from the
# start of every run of allowed minutes, where an off-by-one would show.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_next_slot_is_the_first_minute_the_oracle_allows(scenario):
    policy, ctx, after, duration, freezes, busy = scenario
    first = _first_minute(after)
    end = after + HORIZON
    count = int((end - first) / timedelta(minutes=1)) + 1
    allowed = Oracle(policy, ctx, freezes, busy).allowed_starts(first, count, duration, with_busy=True)
    k, since = 0, after
    while True:
        slot = next_slot(policy, ctx, timedelta(minutes=duration), since, freezes, horizon=end - since, busy=busy)
        expected = next((i for i in range(k, count) if allowed[i]), None)
        assert (slot.start if slot.allowed else None) == (
            None if expected is None else first + timedelta(minutes=expected)), slot.summary()
        if expected is None:
            break
        assert slot.end - slot.start == timedelta(minutes=duration)
        assert explain(policy, ctx, slot.start, timedelta(minutes=duration), freezes).allowed
        k = next((i for i in range(expected, count) if not allowed[i]), None)  # past this run of allowed starts
        if k is None:
            break
        since = first + timedelta(minutes=k)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_explain_agrees_with_the_oracle(scenario):
    policy, ctx, after, duration, freezes, _ = scenario
    first = _first_minute(after)
    oracle = Oracle(policy, ctx, freezes, [])
    allowed = oracle.allowed_starts(first, 2 * 1440, duration, with_busy=False)
    changes = {k for k in range(1, len(allowed)) if allowed[k] != allowed[k - 1]}
    for k in sorted(changes | {k - 1 for k in changes} | set(range(0, len(allowed), 37))):
        start = first + timedelta(minutes=k)
        decision = explain(policy, ctx, start, timedelta(minutes=duration), freezes)
        assert decision.allowed == allowed[k], f"{start}: {decision.summary()}"
        if decision.allowed and oracle.windows_apply:
            assert decision.window.start <= start and start + timedelta(minutes=duration) <= decision.window.end
