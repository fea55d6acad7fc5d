"""The schedule section of the policy file: seed 000's defaults, and a clear error at the right path."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from changegate.core.schedule.engine import (
    HolidaysBlackout,
    QuarterEndBlackout,
    SchedulePolicy,
    ShiftChangeBlackout,
    WeeklyBlackout,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "schedule.md"


def test_defaults_are_seed_000():
    policy = SchedulePolicy()
    assert policy.timezone == "Europe/Berlin"
    assert [(w.name, w.days, w.start, w.end) for w in policy.windows] == [
        ("morning", ("tue", "wed", "thu"), "09:00", "11:00"),
        ("afternoon", ("tue", "wed", "thu"), "14:00", "16:00"),
    ]
    friday, shift, quarter = policy.blackouts
    assert isinstance(friday, WeeklyBlackout) and friday.days == ("fri",)
    assert (friday.start, friday.end) == ("00:00", "24:00")
    assert isinstance(shift, ShiftChangeBlackout) and shift.times == ("06:00", "14:00", "22:00") and shift.margin == 30
    assert isinstance(quarter, QuarterEndBlackout) and quarter.days == 10
    assert all(b.emergency_override for b in policy.blackouts)
    assert not any(isinstance(b, HolidaysBlackout) for b in policy.blackouts)  # opt-in
    assert policy.emergency_outside_windows and policy.environments == {}


def test_a_dump_loads_back_to_the_same_policy():
    policy = SchedulePolicy()
    assert SchedulePolicy.model_validate(policy.model_dump()) == policy


def documented_example() -> dict:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(schedule:\n.*?)```", text, re.S)
    assert block, "docs/schedule.md has no ```yaml block starting with schedule:"
    return yaml.safe_load(block[1])["schedule"]


def test_the_documented_example_is_valid():
    policy = SchedulePolicy.model_validate(documented_example())
    assert {b.kind for b in policy.blackouts} == {"weekly", "shift_change", "dates", "quarter_end", "holidays"}
    assert policy.windows[2].monthly is not None and policy.windows[2].environments == ("prod",)
    assert not policy.enforced("dev") and policy.enforced("prod")
    assert policy.timezone_for("prod") == "Europe/Berlin"


def test_input_is_normalised():
    policy = SchedulePolicy(
        windows=[{"name": "w", "days": ["Tuesday", "WED"], "start": "9:00", "end": "24:00"}],
        blackouts=[{"name": "s", "kind": "shift_change", "times": ["6:00"], "margin": "1h30m"},
                   {"name": "h", "kind": "holidays", "country": "de", "subdivision": "BY"},
                   {"name": "p", "kind": "dates", "start": "2026-11-15", "end": date(2026, 12, 31)}],
    )
    morning = policy.windows[0]
    assert (morning.days, morning.start, morning.end) == (("tue", "wed"), "09:00", "24:00")
    assert policy.blackouts[0].times == ("06:00",) and policy.blackouts[0].margin == 90
    assert policy.blackouts[1].country == "DE"
    assert policy.blackouts[2].start == date(2026, 11, 15)


WINDOW = {"name": "morning", "days": ["tue"], "start": "09:00", "end": "11:00"}


def window(**changes) -> dict:
    return {**WINDOW, **changes}


def blackout(kind: str, **fields) -> dict:
    return {"name": f"a-{kind}", "kind": kind, **fields}


BAD = [
    # (schedule section, error path, words the message must contain)
    ({"windows": [window(end="09:00")]}, ("windows", 0, "end"), "end 09:00 is not after start 09:00"),
    ({"windows": [window(start="12:00")]}, ("windows", 0, "end"), "end 11:00 is not after start 12:00"),
    ({"windows": [window(start="25:00")]}, ("windows", 0, "start"), "'25:00' is not a time of day"),
    ({"windows": [window(start="9am")]}, ("windows", 0, "start"), "'9am' is not a time of day"),
    ({"windows": [window(start="24:00")]}, ("windows", 0, "start"), "'24:00' is not a time of day"),
    ({"windows": [window(start=840)]}, ("windows", 0, "start"), "write times in quotes"),
    ({"windows": [window(days=["tue", "tues"])]}, ("windows", 0, "days", 1), "'tues' is not a day of the week"),
    ({"windows": [window(days=["tue", "tue"])]}, ("windows", 0, "days"), "tue listed more than once"),
    ({"windows": [window(days=[])]}, ("windows", 0), "needs either days"),
    ({"windows": [window(monthly={"week": 3, "day": "sat"})]}, ("windows", 0), "exactly one of them"),
    ({"windows": [window(days=[], monthly={"week": 6, "day": "sat"})]}, ("windows", 0, "monthly", "week"), "'last'"),
    ({"windows": [WINDOW, window(name="late", start="10:30", end="12:00")]}, ("windows", 1),
     "window 'late' (tue 10:30–12:00) overlaps window 'morning' (tue 09:00–11:00) in the same scope"),
    ({"windows": [WINDOW, window(name="sat", days=[], monthly={"week": "last", "day": "tue"}, start="10:00")]},
     ("windows", 1), "overlaps window 'morning'"),
    ({"windows": [WINDOW, window(name="again")]}, ("windows", 1), "overlaps"),
    ({"windows": [WINDOW, window(start="14:00", end="16:00")]}, ("windows", 1, "name"),
     "duplicate window name 'morning'"),
    ({"timezone": "Europe/Berlinn"}, ("timezone",), "'Europe/Berlinn' is not an IANA time zone"),
    ({"environments": {"prod": {"timezone": "CEST+2"}}}, ("environments", "prod", "timezone"), "not an IANA time zone"),
    ({"environments": {"prod": {"enforced": False}}}, ("environments", "prod", "enforced"), "Extra inputs"),
    ({"blackouts": [blackout("holidays", country="XX")]}, ("blackouts", 0, "country"), "'XX' is not a country"),
    ({"blackouts": [blackout("holidays", country="DE", subdivision="XY")]}, ("blackouts", 0, "subdivision"),
     "'XY' is not a subdivision of DE (known: BB, BE, BW, BY"),
    ({"blackouts": [blackout("shift_change", times=["06:00"], margin="0m")]}, ("blackouts", 0, "margin"),
     "the margin must be longer than zero"),
    ({"blackouts": [blackout("shift_change", times=["06:00"], margin="-30m")]}, ("blackouts", 0, "margin"),
     "the margin must be longer than zero"),
    ({"blackouts": [blackout("shift_change", times=["06:00"], margin="13h")]}, ("blackouts", 0, "margin"),
     "longer than the maximum of 12h"),
    ({"blackouts": [blackout("shift_change", times=["06:00"], margin="half an hour")]}, ("blackouts", 0, "margin"),
     "is not a duration"),
    ({"blackouts": [blackout("shift_change", times=[])]}, ("blackouts", 0, "times"), "list at least one"),
    ({"blackouts": [blackout("shift_change", times=["06:00", "6:00"])]}, ("blackouts", 0, "times"), "more than once"),
    ({"blackouts": [blackout("quarter_end", days=0)]}, ("blackouts", 0, "days"), "greater than or equal to 1"),
    ({"blackouts": [blackout("quarter_end", days=32)]}, ("blackouts", 0, "days"), "less than or equal to 31"),
    ({"blackouts": [blackout("dates", start="2026-12-31", end="2026-11-15")]}, ("blackouts", 0, "end"),
     "end 2026-11-15 is before start 2026-12-31"),
    ({"blackouts": [blackout("weekly", days=["fri"], start="18:00", end="12:00")]}, ("blackouts", 0, "end"),
     "not after start"),
    ({"blackouts": [blackout("weekly", days=["fri"]), blackout("weekly", days=["mon"])]}, ("blackouts", 1, "name"),
     "duplicate blackout name 'a-weekly' (first used by blackout 0)"),
    ({"blackouts": [{"name": "x", "kind": "lunar"}]}, ("blackouts", 0, "kind"), "unknown blackout kind 'lunar'"),
    ({"blackouts": [{"name": "x"}]}, ("blackouts", 0, "kind"), "a blackout needs a kind"),
    ({"blackouts": [blackout("weekly", days=["fri"], emergency=True)]}, ("blackouts", 0, "emergency"), "Extra inputs"),
    ({"windows": [window(name="")]}, ("windows", 0, "name"), "at least 1 character"),
]


@pytest.mark.parametrize("section, path, words", BAD, ids=[str(b[1]) + " " + b[2][:30] for b in BAD])
def test_bad_policy_is_refused_at_the_field(section, path, words):
    with pytest.raises(ValidationError) as caught:
        SchedulePolicy.model_validate(section)
    errors = caught.value.errors()
    matching = [e for e in errors if tuple(e["loc"]) == path]
    assert matching, f"no error at {path}: {[(e['loc'], e['msg']) for e in errors]}"
    assert any(words in e["msg"] for e in matching), [e["msg"] for e in matching]


def test_windows_in_different_scopes_may_overlap():
    late = window(name="prod-late", start="10:00", end="12:00", environments=["prod"])
    policy = SchedulePolicy(windows=[WINDOW, late])
    assert len(policy.windows) == 2


def test_monthly_windows_on_different_weeks_do_not_overlap():
    SchedulePolicy(windows=[window(days=[], monthly={"week": 1, "day": "sat"}),
                            window(name="third", days=[], monthly={"week": 3, "day": "sat"})])
    with pytest.raises(ValidationError, match="overlaps"):
        SchedulePolicy(windows=[window(days=[], monthly={"week": 5, "day": "sat"}),
                                window(name="last", days=[], monthly={"week": "last", "day": "sat"})])
