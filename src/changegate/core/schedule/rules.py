"""What the schedule's rules mean, apart from how the policy file validates them.

The validated models (``policy.py``, pydantic) and the plain data kept in the start-up cache (the
``Plain*`` classes here, built by ``to_plain``/``from_plain``) share these behaviours, so the engine gives
the same answers on either. This module imports no pydantic and no ``holidays`` package (it is imported
only when a year's holidays are not at hand): a local ``changegate schedule next-slot`` loads the schedule
from the cache with this module alone (issue 13).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", "last": "last"}
WHOLE_DAY = ((0, 1440),)


def minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def wall_text(day: date, first: int, last: int, ref: date | None = None) -> str:
    """Wall-clock interval given in minutes from ``day``'s midnight, e.g. 'Fri 2026-03-06 12:00–18:00'.

    The date is left out when the interval lies on ``ref``; an end at midnight reads 24:00.
    """
    midnight = datetime.combine(day, time())
    start, end = midnight + timedelta(minutes=first), midnight + timedelta(minutes=last)
    if start.date() == (end - timedelta(minutes=1)).date():
        end_text = "24:00" if end.date() != start.date() else f"{end:%H:%M}"
        return f"{start:%H:%M}–{end_text}" if start.date() == ref else f"{start:%a %Y-%m-%d %H:%M}–{end_text}"
    return f"{start:%a %Y-%m-%d %H:%M} – {end:%a %Y-%m-%d %H:%M}"


def in_scope(rule: Any, environment: str, site: str | None, items: frozenset[str], *,
             any_site_or_item: bool = False) -> bool:
    """Scope test shared by policy rules and ad-hoc freezes (anything with the three lists).

    ``any_site_or_item`` answers "may this apply somewhere in the environment?", for calendars.
    """
    if rule.environments and environment not in rule.environments:
        return False
    if any_site_or_item:
        return True
    if rule.sites and site not in rule.sites:
        return False
    return not rule.items or not items.isdisjoint(rule.items)


@lru_cache(maxsize=256)
def holiday_names(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    """Public holidays of one year (the ``holidays`` package computes them; cached per year)."""
    import holidays  # about 100 ms: only when a year's holidays are not already at hand

    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year, language="en_US"))


# --- behaviours, mixed into the validated models and the plain classes ---------------------------


class ScopedRules:
    def scope_key(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        return frozenset(self.environments), frozenset(self.sites), frozenset(self.items)


class MonthlyDayRules:
    """The n-th (1–5) or last given weekday of every month, e.g. the third Saturday."""

    def matches(self, d: date) -> bool:
        if d.weekday() != DAYS.index(self.day):
            return False
        if self.week == "last":
            return d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        return (d.day - 1) // 7 + 1 == self.week

    def may_coincide(self, other: MonthlyDayRules) -> bool:
        """Whether both can fall on the same date (the last one is the fourth or the fifth)."""
        if self.day != other.day:
            return False
        weeks = {self.week, other.week}
        return len(weeks) == 1 or weeks in ({"last", 4}, {"last", 5})

    def __str__(self) -> str:
        return f"{_ORDINALS[self.week]} {self.day} of the month"


class WindowRules(ScopedRules):
    """A deployment window: every given weekday, or one weekday a month, from start to end."""

    @cached_property
    def start_minute(self) -> int:
        return minute_of_day(self.start)

    @cached_property
    def end_minute(self) -> int:
        return minute_of_day(self.end)

    @property
    def minutes(self) -> int:
        return self.end_minute - self.start_minute

    def occurs_on(self, d: date) -> bool:
        if self.monthly is not None:
            return self.monthly.matches(d)
        return DAYS[d.weekday()] in self.days

    def describe(self) -> str:
        when = str(self.monthly) if self.monthly is not None else ", ".join(self.days)
        return f"{when} {self.start}–{self.end}"

    def overlaps(self, other: WindowRules) -> bool:
        """Whether the two windows can be open at the same time on some date."""
        if not (self.start_minute < other.end_minute and other.start_minute < self.end_minute):
            return False
        if self.monthly is None and other.monthly is None:
            return not set(self.days).isdisjoint(other.days)
        if self.monthly is not None and other.monthly is not None:
            return self.monthly.may_coincide(other.monthly)
        monthly, weekly = (self.monthly, other) if self.monthly is not None else (other.monthly, self)
        return monthly.day in weekly.days


# Each blackout kind answers ``minutes_on(day)``: the wall-clock intervals it blocks that belong to that
# day, in minutes from the day's midnight (a shift-change margin may reach into the neighbours).


class WeeklyRules(ScopedRules):
    @cached_property
    def _span(self) -> tuple[tuple[int, int], ...]:
        return ((minute_of_day(self.start), minute_of_day(self.end)),)

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return self._span if DAYS[d.weekday()] in self.days else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        if (first, last) == WHOLE_DAY[0]:
            return f"all day {d:%a %Y-%m-%d}"
        return wall_text(d, first, last, ref)


class ShiftChangeRules(ScopedRules):
    @cached_property
    def _spans(self) -> tuple[tuple[int, int], ...]:
        return tuple((minute_of_day(t) - self.margin, minute_of_day(t) + self.margin) for t in self.times)

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return self._spans

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return wall_text(d, first, last, ref)


class DatesRules(ScopedRules):
    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if self.start <= d <= self.end else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return f"{self.start} – {self.end}"


class QuarterEndRules(ScopedRules):
    @staticmethod
    def quarter_end(d: date) -> date:
        month = (d.month - 1) // 3 * 3 + 3
        return date(d.year, month, calendar.monthrange(d.year, month)[1])

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if (self.quarter_end(d) - d).days < self.days else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        end = self.quarter_end(d)
        return f"last {self.days} days of Q{end.month // 3} {end.year}: {end - timedelta(days=self.days - 1)} – {end}"


class HolidaysRules(ScopedRules):
    def holidays_in(self, year: int) -> dict[date, str]:
        return holiday_names(self.country, self.subdivision, year)

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if d in self.holidays_in(d.year) else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return f"{d:%a %Y-%m-%d}: {self.holidays_in(d.year).get(d, 'holiday')}"


class SchedulePolicyRules:
    def timezone_for(self, environment: str) -> str:
        env = self.environments.get(environment)
        return env.timezone if env is not None and env.timezone else self.timezone

    def enforced(self, environment: str) -> bool:
        env = self.environments.get(environment)
        return env is None or env.enforce


# --- the plain classes: the same rules as data, loaded without pydantic ---------------------------


@dataclass(frozen=True)
class PlainMonthlyDay(MonthlyDayRules):
    week: int | str
    day: str


@dataclass(frozen=True)
class _PlainScoped:
    name: str
    environments: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlainWindow(_PlainScoped, WindowRules):
    days: tuple[str, ...] = ()
    monthly: PlainMonthlyDay | None = None
    start: str = "00:00"
    end: str = "24:00"


@dataclass(frozen=True)
class _PlainBlackout(_PlainScoped):
    emergency_override: bool = False


@dataclass(frozen=True)
class PlainWeekly(_PlainBlackout, WeeklyRules):
    kind: str = "weekly"
    days: tuple[str, ...] = ()
    start: str = "00:00"
    end: str = "24:00"


@dataclass(frozen=True)
class PlainShiftChange(_PlainBlackout, ShiftChangeRules):
    kind: str = "shift_change"
    times: tuple[str, ...] = ()
    margin: int = 30


@dataclass(frozen=True)
class PlainDates(_PlainBlackout, DatesRules):
    kind: str = "dates"
    start: date = date.min
    end: date = date.min


@dataclass(frozen=True)
class PlainQuarterEnd(_PlainBlackout, QuarterEndRules):
    kind: str = "quarter_end"
    days: int = 10


@dataclass(frozen=True)
class PlainHolidays(_PlainBlackout, HolidaysRules):
    kind: str = "holidays"
    country: str = ""
    subdivision: str | None = None
    known: dict[int, dict[date, str]] = field(default_factory=dict, compare=False, hash=False)

    def holidays_in(self, year: int) -> dict[date, str]:
        found = self.known.get(year)
        return found if found is not None else holiday_names(self.country, self.subdivision, year)


@dataclass(frozen=True)
class PlainEnvironment:
    timezone: str | None = None
    enforce: bool = True


@dataclass(frozen=True)
class PlainSchedule(SchedulePolicyRules):
    timezone: str
    environments: dict[str, PlainEnvironment]
    emergency_outside_windows: bool
    windows: tuple[PlainWindow, ...]
    blackouts: tuple[Any, ...]


# --- to and from plain data (JSON) ----------------------------------------------------------------

_SCOPE = ("environments", "sites", "items")
_BLACKOUT_FIELDS = {"weekly": ("days", "start", "end"), "shift_change": ("times", "margin"),
                    "dates": ("start", "end"), "quarter_end": ("days",), "holidays": ("country", "subdivision")}
_PLAIN_BLACKOUTS = {"weekly": PlainWeekly, "shift_change": PlainShiftChange, "dates": PlainDates,
                    "quarter_end": PlainQuarterEnd, "holidays": PlainHolidays}


def _scope(rule: Any) -> dict:
    return {"name": rule.name, **{k: list(getattr(rule, k)) for k in _SCOPE}}


def _window_data(w: Any) -> dict:
    monthly = {"week": w.monthly.week, "day": w.monthly.day} if w.monthly is not None else None
    return {**_scope(w), "days": list(w.days), "monthly": monthly, "start": w.start, "end": w.end}


def _blackout_data(b: Any, years: range) -> dict:
    data = {**_scope(b), "kind": b.kind, "emergency_override": b.emergency_override}
    for name in _BLACKOUT_FIELDS[b.kind]:
        value = getattr(b, name)
        data[name] = value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
    if b.kind == "holidays":  # the years at hand, so that loading needs no holidays package
        data["known"] = {str(y): {d.isoformat(): n for d, n in holiday_names(b.country, b.subdivision, y).items()}
                         for y in years}
    return data


def to_plain(schedule: Any, years: range) -> dict:
    """The validated ``schedule:`` section as JSON-ready data, with the holidays of ``years`` computed."""
    return {"timezone": schedule.timezone, "emergency_outside_windows": schedule.emergency_outside_windows,
            "environments": {k: {"timezone": v.timezone, "enforce": v.enforce}
                             for k, v in schedule.environments.items()},
            "windows": [_window_data(w) for w in schedule.windows],
            "blackouts": [_blackout_data(b, years) for b in schedule.blackouts]}


def _scope_args(data: dict) -> dict:
    return {"name": data["name"], **{k: tuple(data[k]) for k in _SCOPE}}


def _plain_window(data: dict) -> PlainWindow:
    monthly = PlainMonthlyDay(**data["monthly"]) if data["monthly"] is not None else None
    return PlainWindow(**_scope_args(data), days=tuple(data["days"]), monthly=monthly, start=data["start"],
                       end=data["end"])


def _plain_blackout(data: dict) -> Any:
    kind = data["kind"]
    args = {**_scope_args(data), "emergency_override": data["emergency_override"]}
    for name in _BLACKOUT_FIELDS[kind]:
        value = data[name]
        args[name] = tuple(value) if isinstance(value, list) else value
    if kind == "dates":
        args["start"], args["end"] = date.fromisoformat(args["start"]), date.fromisoformat(args["end"])
    if kind == "holidays":
        args["known"] = {int(y): {date.fromisoformat(d): n for d, n in days.items()}
                         for y, days in data["known"].items()}
    return _PLAIN_BLACKOUTS[kind](**args)


def from_plain(data: dict) -> PlainSchedule:
    """The schedule section back from ``to_plain``'s data: the same rules, without the models."""
    return PlainSchedule(
        timezone=data["timezone"], emergency_outside_windows=data["emergency_outside_windows"],
        environments={k: PlainEnvironment(**v) for k, v in data["environments"].items()},
        windows=tuple(_plain_window(w) for w in data["windows"]),
        blackouts=tuple(_plain_blackout(b) for b in data["blackouts"]))
