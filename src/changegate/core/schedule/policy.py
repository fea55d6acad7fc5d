"""The ``schedule:`` section of the policy file: time zones, deployment windows and blackouts.

Every rule is written in local wall-clock time of the environment's zone. The
models only describe and validate; ``schedule.py`` turns them into UTC intervals.
Errors are raised with a sentence and, for problems between list entries
(duplicate names, overlapping windows), at the path of the offending entry, so the
policy loader can name file, line and field.
"""

from __future__ import annotations

import re
from datetime import date, time
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
from .rules import (  # the rules' meaning; the models here validate them
    DAYS,
    WHOLE_DAY,
    DatesRules,
    HolidaysRules,
    MonthlyDayRules,
    QuarterEndRules,
    SchedulePolicyRules,
    ScopedRules,
    ShiftChangeRules,
    WeeklyRules,
    WindowRules,
    holiday_names,
    in_scope,
    minute_of_day,
    wall_text,
)

__all__ = ["DAYS", "WHOLE_DAY", "holiday_names", "in_scope", "minute_of_day", "wall_text"]  # re-exported

_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
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


# --- scope -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Scoped(ScopedRules, _Strict):
    """Where a rule applies: no list means everywhere; every given list must match."""

    environments: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    items: tuple[str, ...] = ()  # configuration item names: applies to a change touching any of them


# --- windows ---------------------------------------------------------------------------------


class MonthlyDay(MonthlyDayRules, _Strict):
    """The n-th (1–5) or last given weekday of every month, e.g. the third Saturday."""

    week: Literal[1, 2, 3, 4, 5, "last"]
    day: Day


class Window(WindowRules, _Scoped):
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


# --- blackouts -------------------------------------------------------------------------------


class _Blackout(_Scoped):
    name: Name
    emergency_override: bool = False  # an emergency change may ignore this blackout


class WeeklyBlackout(WeeklyRules, _Blackout):
    """Every given weekday, all day unless start/end narrow it (e.g. Friday)."""

    kind: Literal["weekly"] = "weekly"
    days: Annotated[tuple[Day, ...], AfterValidator(_some)]
    start: ClockTime = "00:00"
    end: EndTime = "24:00"

    _days = field_validator("days")(_unique_days)
    _end = field_validator("end")(_end_after_start)


class ShiftChangeBlackout(ShiftChangeRules, _Blackout):
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


class DatesBlackout(DatesRules, _Blackout):
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


class QuarterEndBlackout(QuarterEndRules, _Blackout):
    """The last ``days`` days of every calendar quarter."""

    kind: Literal["quarter_end"] = "quarter_end"
    days: int = Field(default=10, ge=1, le=31)


class HolidaysBlackout(HolidaysRules, _Blackout):
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


class SchedulePolicy(SchedulePolicyRules, _Strict):
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


def _duplicate_names(what: str, rules: tuple[Window, ...] | tuple[BlackoutRule, ...]) -> list:
    first: dict[str, int] = {}
    problems = []
    for i, rule in enumerate(rules):
        if rule.name in first:
            problems.append(((i, "name"), rule.name,
                             f"duplicate {what} name {rule.name!r} (first used by {what} {first[rule.name]})"))
        first.setdefault(rule.name, i)
    return problems
