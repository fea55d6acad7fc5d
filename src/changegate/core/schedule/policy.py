"""The ``schedule:`` section of the policy file: time zones, deployment windows and blackouts.

Every rule is written in local wall-clock time of the environment's zone. The
models only describe and validate; ``schedule.py`` turns them into UTC intervals.
Errors are raised with a sentence and, for problems between list entries
(duplicate names, overlapping windows), at the path of the offending entry, so the
policy loader can name file, line and field.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..policy.durations import format_minutes, parse_minutes

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", "last": "last"}
MAX_MARGIN_MINUTES = 12 * 60  # keeps a shift change's blackout within the neighbouring days


def _fail(title: str, problems: list[tuple[tuple[str | int, ...], Any, str]]) -> NoReturn:
    """Raise problems found across list entries at each entry's own path (loc)."""
    raise ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)
        for loc, value, message in problems
    ])


# --- scalar types ----------------------------------------------------------------------------


def _day(value: Any) -> str:
    text = str(value).strip().lower()
    if text in DAYS:
        return text
    if text in _FULL_DAYS:
        return DAYS[_FULL_DAYS.index(text)]
    raise ValueError(f"{value!r} is not a day of the week (use {', '.join(DAYS)})")


def _clock(value: Any, *, allow_midnight_end: bool = False) -> str:
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ValueError(f"{value} is not a whole minute")
        return value.strftime("%H:%M")
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 14:00 as the sexagesimal number 840.
        raise ValueError(f"{value} is not a time of day: write times in quotes, e.g. \"14:00\" "
                         f"(unquoted, YAML reads 14:00 as the number 840)")
    match = _CLOCK.match(str(value).strip())
    if match:
        hours, minutes = int(match[1]), int(match[2])
        if (hours < 24 and minutes < 60) or (allow_midnight_end and hours == 24 and minutes == 0):
            return f"{hours:02d}:{minutes:02d}"
    end_hint = ", or \"24:00\" for midnight at the end" if allow_midnight_end else ""
    raise ValueError(f"{value!r} is not a time of day (write HH:MM on a 24-hour clock, e.g. \"09:00\" or "
                     f"\"14:30\"{end_hint})")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)") from None
    return name


def _margin(value: Any) -> int:
    # parse_minutes calls "-30m" no duration at all; the sentence should say what is wrong with it.
    minutes = 0 if str(value).strip().startswith("-") else parse_minutes(value)
    if minutes == 0:
        raise ValueError(f"the margin must be longer than zero (got {value!r})")
    if minutes > MAX_MARGIN_MINUTES:
        raise ValueError(f"a margin of {format_minutes(minutes)} is longer than the maximum of 12h")
    return minutes


Day = Annotated[str, BeforeValidator(_day)]
ClockTime = Annotated[str, BeforeValidator(_clock)]  # "HH:MM", 00:00–23:59
EndTime = Annotated[str, BeforeValidator(lambda v: _clock(v, allow_midnight_end=True))]  # also "24:00"
TimeZoneName = Annotated[str, AfterValidator(_zone)]
Margin = Annotated[int, BeforeValidator(_margin)]  # minutes; written 30m, 1h30m, 90
Name = Annotated[str, Field(min_length=1, max_length=80)]


def minute_of_day(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _some(values: tuple[str, ...]) -> tuple[str, ...]:
    # Not Field(min_length=1): that one also fires, confusingly, when an entry is invalid.
    if not values:
        raise ValueError("list at least one")
    return values


def _unique_days(days: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({d for d in days if days.count(d) > 1}, key=DAYS.index)
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed more than once")
    return days


def _end_after_start(end: str, info: ValidationInfo) -> str:
    start = info.data.get("start")
    if start is not None and minute_of_day(end) <= minute_of_day(start):
        raise ValueError(f"end {end} is not after start {start} (a rule cannot cross midnight: "
                         f"split it, or end at \"24:00\")")
    return end


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


# --- scope -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scoped(_Strict):
    """Where a rule applies: no list means everywhere; every given list must match."""

    environments: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    items: tuple[str, ...] = ()  # configuration item names: applies to a change touching any of them

    def scope_key(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        return frozenset(self.environments), frozenset(self.sites), frozenset(self.items)


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


# --- windows ---------------------------------------------------------------------------------


class MonthlyDay(_Strict):
    """The n-th (1–5) or last given weekday of every month, e.g. the third Saturday."""

    week: Literal[1, 2, 3, 4, 5, "last"]
    day: Day

    def matches(self, d: date) -> bool:
        if d.weekday() != DAYS.index(self.day):
            return False
        if self.week == "last":
            return d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        return (d.day - 1) // 7 + 1 == self.week

    def may_coincide(self, other: MonthlyDay) -> bool:
        """Whether both can fall on the same date (the last one is the fourth or the fifth)."""
        if self.day != other.day:
            return False
        weeks = {self.week, other.week}
        return len(weeks) == 1 or weeks in ({"last", 4}, {"last", 5})

    def __str__(self) -> str:
        return f"{_ORDINALS[self.week]} {self.day} of the month"


class Window(_Scoped):
    """A deployment window: every given weekday, or one weekday a month, from start to end."""

    name: Name
    days: tuple[Day, ...] = ()
    monthly: MonthlyDay | None = None
    start: ClockTime
    end: EndTime

    _days = field_validator("days")(_unique_days)
    _end = field_validator("end")(_end_after_start)

    @model_validator(mode="after")
    def _days_or_monthly(self) -> Window:
        if bool(self.days) == (self.monthly is not None):
            raise ValueError(f"window {self.name!r} needs either days (e.g. [tue, wed]) or monthly "
                             f"(e.g. {{week: 3, day: sat}}), exactly one of them")
        return self

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

    def overlaps(self, other: Window) -> bool:
        """Whether the two windows can be open at the same time on some date."""
        if not (self.start_minute < other.end_minute and other.start_minute < self.end_minute):
            return False
        if self.monthly is None and other.monthly is None:
            return not set(self.days).isdisjoint(other.days)
        if self.monthly is not None and other.monthly is not None:
            return self.monthly.may_coincide(other.monthly)
        monthly, weekly = (self.monthly, other) if self.monthly is not None else (other.monthly, self)
        return monthly.day in weekly.days


# --- blackouts -------------------------------------------------------------------------------
# Each kind answers ``minutes_on(day)``: the wall-clock intervals it blocks that belong to that
# day, in minutes from the day's midnight (a shift-change margin may reach into the neighbours).

WHOLE_DAY = ((0, 1440),)


class _Blackout(_Scoped):
    name: Name
    emergency_override: bool = False  # an emergency change may ignore this blackout


class WeeklyBlackout(_Blackout):
    """Every given weekday, all day unless start/end narrow it (e.g. Friday)."""

    kind: Literal["weekly"] = "weekly"
    days: Annotated[tuple[Day, ...], AfterValidator(_some)]
    start: ClockTime = "00:00"
    end: EndTime = "24:00"

    _days = field_validator("days")(_unique_days)
    _end = field_validator("end")(_end_after_start)

    @cached_property
    def _span(self) -> tuple[tuple[int, int], ...]:
        return ((minute_of_day(self.start), minute_of_day(self.end)),)

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return self._span if DAYS[d.weekday()] in self.days else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        if (first, last) == WHOLE_DAY[0]:
            return f"all day {d:%a %Y-%m-%d}"
        return wall_text(d, first, last, ref)


class ShiftChangeBlackout(_Blackout):
    """Each shift handover time, with a margin on both sides."""

    kind: Literal["shift_change"] = "shift_change"
    times: Annotated[tuple[ClockTime, ...], AfterValidator(_some)]
    margin: Margin = 30

    @field_validator("times")
    @classmethod
    def _unique_times(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("a shift change time is listed more than once")
        return v

    @cached_property
    def _spans(self) -> tuple[tuple[int, int], ...]:
        return tuple((minute_of_day(t) - self.margin, minute_of_day(t) + self.margin) for t in self.times)

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return self._spans

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return wall_text(d, first, last, ref)


class DatesBlackout(_Blackout):
    """A run of whole days, both ends included (e.g. peak season)."""

    kind: Literal["dates"] = "dates"
    start: date
    end: date

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, end: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError(f"end {end} is before start {start}")
        return end

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if self.start <= d <= self.end else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return f"{self.start} – {self.end}"


class QuarterEndBlackout(_Blackout):
    """The last ``days`` days of every calendar quarter."""

    kind: Literal["quarter_end"] = "quarter_end"
    days: int = Field(default=10, ge=1, le=31)

    @staticmethod
    def quarter_end(d: date) -> date:
        month = (d.month - 1) // 3 * 3 + 3
        return date(d.year, month, calendar.monthrange(d.year, month)[1])

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if (self.quarter_end(d) - d).days < self.days else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        end = self.quarter_end(d)
        return f"last {self.days} days of Q{end.month // 3} {end.year}: {end - timedelta(days=self.days - 1)} – {end}"


@lru_cache(maxsize=256)
def holiday_names(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    """Public holidays of one year (the ``holidays`` package computes them; cached per year)."""
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year, language="en_US"))


class HolidaysBlackout(_Blackout):
    """The public holidays of a country, optionally one of its subdivisions (e.g. DE, BY)."""

    kind: Literal["holidays"] = "holidays"
    country: str
    subdivision: str | None = None

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str) -> str:
        code = v.strip().upper()
        try:
            holidays.country_holidays(code)
        except NotImplementedError:
            raise ValueError(f"{v!r} is not a country the holidays calendar knows "
                             f"(use an ISO 3166 code such as DE, US, FR)") from None
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, v: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if v is None or country is None:
            return v
        try:
            holidays.country_holidays(country, subdiv=v)
        except NotImplementedError:
            known = holidays.country_holidays(country).subdivisions
            listed = ", ".join(known[:12]) + (", …" if len(known) > 12 else "")
            raise ValueError(f"{v!r} is not a subdivision of {country}"
                             + (f" (known: {listed})" if known else f" ({country} has none)")) from None
        return v

    def minutes_on(self, d: date) -> tuple[tuple[int, int], ...]:
        return WHOLE_DAY if d in holiday_names(self.country, self.subdivision, d.year) else ()

    def describe(self, d: date, first: int, last: int, ref: date | None = None) -> str:
        return f"{d:%a %Y-%m-%d}: {holiday_names(self.country, self.subdivision, d.year).get(d, 'holiday')}"


BLACKOUT_KINDS: dict[str, type[_Blackout]] = {
    "weekly": WeeklyBlackout,
    "shift_change": ShiftChangeBlackout,
    "dates": DatesBlackout,
    "quarter_end": QuarterEndBlackout,
    "holidays": HolidaysBlackout,
}
BlackoutRule = WeeklyBlackout | ShiftChangeBlackout | DatesBlackout | QuarterEndBlackout | HolidaysBlackout


def _dispatch_blackout(value: Any, handler: Any) -> BlackoutRule:
    # Chosen by hand rather than a pydantic discriminated union, whose error paths carry the tag
    # ("blackouts.0.shift_change.margin"), which is not a path in the YAML file.
    if isinstance(value, tuple(BLACKOUT_KINDS.values())):
        return value
    if not isinstance(value, dict):
        raise ValueError("a blackout is a mapping with a name and a kind")
    kinds = ", ".join(BLACKOUT_KINDS)
    model = BLACKOUT_KINDS.get(value.get("kind"))
    if model is None:
        message = (f"unknown blackout kind {value['kind']!r} (use one of {kinds})" if "kind" in value
                   else f"a blackout needs a kind (one of {kinds})")
        _fail("Blackout", [(("kind",), value.get("kind"), message)])
    return model.model_validate(value)


Blackout = Annotated[BlackoutRule, WrapValidator(_dispatch_blackout)]


# --- the section -----------------------------------------------------------------------------


class EnvironmentSchedule(_Strict):
    timezone: TimeZoneName | None = None  # default: the section's timezone
    enforce: bool = True  # false: any time is allowed (e.g. the DEV sandbox)


DEFAULT_WINDOWS = (
    Window(name="morning", days=("tue", "wed", "thu"), start="09:00", end="11:00"),
    Window(name="afternoon", days=("tue", "wed", "thu"), start="14:00", end="16:00"),
)
DEFAULT_BLACKOUTS: tuple[BlackoutRule, ...] = (
    WeeklyBlackout(name="friday", days=("fri",), emergency_override=True),
    ShiftChangeBlackout(name="shift-change", times=("06:00", "14:00", "22:00"), margin=30, emergency_override=True),
    QuarterEndBlackout(name="quarter-end", days=10, emergency_override=True),
)


class SchedulePolicy(_Strict):
    """``schedule:`` section. The defaults are seed 000's plant practice."""

    timezone: TimeZoneName = "Europe/Berlin"
    environments: dict[str, EnvironmentSchedule] = Field(default_factory=dict)
    # An emergency cannot wait for Tuesday 09:00: it may start outside the windows, and ignores
    # the blackouts that allow an emergency override.
    emergency_outside_windows: bool = True
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    blackouts: tuple[Blackout, ...] = DEFAULT_BLACKOUTS

    @field_validator("windows")
    @classmethod
    def _windows_distinct(cls, windows: tuple[Window, ...]) -> tuple[Window, ...]:
        problems = _duplicate_names("window", windows)
        for i, window in enumerate(windows):
            for earlier in windows[:i]:
                if window.scope_key() == earlier.scope_key() and window.overlaps(earlier):
                    problems.append(((i,), window.name,
                                     f"window {window.name!r} ({window.describe()}) overlaps window "
                                     f"{earlier.name!r} ({earlier.describe()}) in the same scope; "
                                     f"merge them or make them not overlap"))
        if problems:
            _fail("SchedulePolicy", problems)
        return windows

    @field_validator("blackouts")
    @classmethod
    def _blackouts_distinct(cls, blackouts: tuple[BlackoutRule, ...]) -> tuple[BlackoutRule, ...]:
        problems = _duplicate_names("blackout", blackouts)
        if problems:
            _fail("SchedulePolicy", problems)
        return blackouts

    def timezone_for(self, environment: str) -> str:
        env = self.environments.get(environment)
        return env.timezone if env is not None and env.timezone else self.timezone

    def enforced(self, environment: str) -> bool:
        env = self.environments.get(environment)
        return env is None or env.enforce


def _duplicate_names(what: str, rules: tuple[Window, ...] | tuple[BlackoutRule, ...]) -> list:
    first: dict[str, int] = {}
    problems = []
    for i, rule in enumerate(rules):
        if rule.name in first:
            problems.append(((i, "name"), rule.name,
                             f"duplicate {what} name {rule.name!r} (first used by {what} {first[rule.name]})"))
        first.setdefault(rule.name, i)
    return problems
