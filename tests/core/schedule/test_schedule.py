"""The schedule engine on known dates: seed 000's default policy, DST, quarter and year ends, holidays.

Weekdays are not guessed: each date's weekday is asserted where it matters (see WEEKDAYS).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest

from changegate.core.decisions import Decision
from changegate.core.schedule.engine import (
    AdhocFreeze,
    DatesBlackout,
    ScheduleCode,
    ScheduleContext,
    SchedulePolicy,
    calendar_entries,
    explain,
    next_slot,
)

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
DEFAULT = SchedulePolicy()
PROD = ScheduleContext("prod", items={"mes"})
EMERGENCY = ScheduleContext("prod", items={"mes"}, emergency=True)
PEAK = DatesBlackout(name="peak-season", start=date(2026, 11, 15), end=date(2026, 12, 31))

WEEKDAYS = {  # the dates used below, checked by test_the_dates_are_the_weekdays_we_think
    date(2026, 3, 3): "Tue", date(2026, 3, 6): "Fri", date(2026, 4, 7): "Tue", date(2026, 3, 24): "Tue",
    date(2026, 3, 29): "Sun", date(2026, 10, 25): "Sun", date(2026, 11, 20): "Fri", date(2026, 12, 31): "Thu",
    date(2027, 1, 5): "Tue", date(2026, 4, 1): "Wed", date(2026, 3, 21): "Sat", date(2026, 2, 28): "Sat",
}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def policy(**changes) -> SchedulePolicy:
    return SchedulePolicy.model_validate({**DEFAULT.model_dump(), **changes})


def test_the_dates_are_the_weekdays_we_think():
    assert {d: f"{d:%a}" for d in WEEKDAYS} == WEEKDAYS


# --- explain on the default policy -----------------------------------------------------------


@pytest.mark.parametrize("start, duration, allowed, expected_codes", [
    (berlin(2026, 3, 3, 9, 0), 90, True, ["inside_window"]),  # Tuesday morning
    (berlin(2026, 3, 3, 9, 30), 90, True, ["inside_window"]),  # ends exactly at 11:00
    (berlin(2026, 3, 3, 10, 0), 90, False, ["window_too_short"]),  # would end 11:30
    (berlin(2026, 3, 3, 8, 30), 30, False, ["outside_window"]),
    (berlin(2026, 3, 3, 14, 0), 60, False, ["blackout", "inside_window"]),  # shift change 13:30–14:30
    (berlin(2026, 3, 3, 14, 29), 30, False, ["blackout", "inside_window"]),
    (berlin(2026, 3, 3, 14, 30), 90, True, ["inside_window"]),  # the effective afternoon window
    (berlin(2026, 3, 6, 9, 0), 60, False, ["outside_window", "blackout"]),  # Friday
    (berlin(2026, 3, 24, 9, 0), 60, False, ["blackout", "inside_window"]),  # quarter end
    (berlin(2026, 3, 3, 10, 59), 0, True, ["inside_window"]),  # no downtime: only the instant counts
    (berlin(2026, 3, 3, 11, 0), 0, False, ["outside_window"]),  # windows are half-open
])
def test_explain_default_policy(start, duration, allowed, expected_codes):
    decision = explain(DEFAULT, PROD, start, minutes(duration))
    assert (decision.allowed, codes(decision)) == (allowed, expected_codes), decision.summary()


def test_explain_says_which_blackout_and_when():
    decision = explain(DEFAULT, PROD, berlin(2026, 3, 3, 14, 10), minutes(90))
    assert decision.reasons[0].message == (
        "Tue 2026-03-03 14:10–15:40 Europe/Berlin overlaps blackout 'shift-change' (13:30–14:30)")


def test_explain_names_the_window_and_its_occurrence():
    decision = explain(DEFAULT, PROD, berlin(2026, 3, 3, 9, 0), minutes(90))
    assert decision.reasons[0].message == ("Tue 2026-03-03 09:00–10:30 Europe/Berlin fits window 'morning' "
                                           "(09:00–11:00)")
    w = decision.window
    assert (w.name, w.timezone) == ("morning", "Europe/Berlin")
    assert (w.start, w.end) == (datetime(2026, 3, 3, 8, tzinfo=UTC), datetime(2026, 3, 3, 10, tzinfo=UTC))
    assert (w.local_start, w.local_end) == (berlin(2026, 3, 3, 9), berlin(2026, 3, 3, 11))
    assert (decision.start, decision.end) == (datetime(2026, 3, 3, 8, tzinfo=UTC),
                                              datetime(2026, 3, 3, 9, 30, tzinfo=UTC))
    assert decision.start.tzinfo is UTC


def test_window_too_short_and_outside_window_sentences():
    late = explain(DEFAULT, PROD, berlin(2026, 3, 3, 10, 0), minutes(90))
    assert late.reasons[0].message == ("Tue 2026-03-03 10:00–11:30 Europe/Berlin runs 30m past the end of window "
                                       "'morning' (09:00–11:00)")
    assert late.window is None
    early = explain(DEFAULT, PROD, berlin(2026, 3, 3, 8, 0), minutes(30))
    assert early.reasons[0].message == ("Tue 2026-03-03 08:00–08:30 Europe/Berlin starts outside every deployment "
                                        "window (windows on Tue 2026-03-03: 'morning' 09:00–11:00, "
                                        "'afternoon' 14:00–16:00)")


def test_friday_gives_every_reason():
    decision = explain(DEFAULT, PROD, berlin(2026, 3, 6, 9, 0), minutes(60))
    assert [r.message for r in decision.reasons] == [
        "Fri 2026-03-06 09:00–10:00 Europe/Berlin starts outside every deployment window "
        "(no deployment window on Fri 2026-03-06)",
        "Fri 2026-03-06 09:00–10:00 Europe/Berlin overlaps blackout 'friday' (all day Fri 2026-03-06)",
    ]


def test_emergency_overrides_friday_and_says_so():
    decision = explain(DEFAULT, EMERGENCY, berlin(2026, 3, 6, 9, 0), minutes(60))
    assert decision.allowed
    assert codes(decision) == ["emergency_outside_window", "emergency_override"]
    assert decision.reasons[1].message == "emergency change: blackout 'friday' (all day Fri 2026-03-06) is overridden"


def test_emergency_does_not_override_peak_season():
    with_peak = policy(blackouts=[*DEFAULT.model_dump()["blackouts"], PEAK.model_dump()])
    decision = explain(with_peak, EMERGENCY, berlin(2026, 11, 20, 9, 0), minutes(60))  # a Friday in peak season
    assert not decision.allowed
    assert codes(decision) == ["blackout", "emergency_outside_window", "emergency_override"]
    assert decision.reasons[0].message == ("Fri 2026-11-20 09:00–10:00 Europe/Berlin overlaps blackout 'peak-season' "
                                           "(2026-11-15 – 2026-12-31); it holds for emergency changes too")
    assert "'friday'" in decision.reasons[2].message


def test_emergency_bound_by_windows_when_the_policy_says_so():
    strict = policy(emergency_outside_windows=False)
    assert codes(explain(strict, EMERGENCY, berlin(2026, 3, 6, 9, 0), minutes(60))) == [
        "outside_window", "emergency_override"]
    # A shift change still overlapped, but overridden: allowed with a note.
    decision = explain(strict, EMERGENCY, berlin(2026, 3, 3, 14, 0), minutes(60))
    assert decision.allowed and codes(decision) == ["inside_window", "emergency_override"]


def test_environment_not_enforced():
    relaxed = policy(environments={"dev": {"enforce": False}})
    decision = explain(relaxed, ScheduleContext("dev"), berlin(2026, 3, 6, 23, 0), minutes(300))
    assert decision.allowed and codes(decision) == ["schedule_not_enforced"]
    slot = next_slot(relaxed, ScheduleContext("dev"), minutes(300), berlin(2026, 3, 6, 23, 0, 10))
    assert slot.start == berlin(2026, 3, 6, 23, 1)
    assert calendar_entries(relaxed, "dev", berlin(2026, 3, 2), berlin(2026, 3, 9)) == []
    assert not explain(relaxed, PROD, berlin(2026, 3, 6, 23, 0), minutes(300)).allowed


def test_decision_is_a_decision_for_the_gate():
    decision = explain(DEFAULT, PROD, berlin(2026, 3, 3, 9, 0), minutes(90))
    assert isinstance(decision, Decision)
    data = decision.to_dict()
    assert data["allowed"] is True and data["reasons"][0]["code"] == "inside_window"
    assert data["window"]["start"] == "2026-03-03T08:00:00+00:00"
    assert data["start"] == "2026-03-03T08:00:00+00:00" and data["end"] == "2026-03-03T09:30:00+00:00"


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        explain(DEFAULT, PROD, datetime(2026, 3, 3, 9), minutes(30))
    with pytest.raises(ValueError, match="negative"):
        explain(DEFAULT, PROD, berlin(2026, 3, 3, 9), minutes(-5))


# --- next_slot -------------------------------------------------------------------------------


@pytest.mark.parametrize("after, duration, expected", [
    (berlin(2026, 3, 3, 8, 0), 90, berlin(2026, 3, 3, 9, 0)),
    (berlin(2026, 3, 3, 9, 0, 30), 60, berlin(2026, 3, 3, 9, 1)),  # rounded up to the minute
    (berlin(2026, 3, 3, 10, 0), 90, berlin(2026, 3, 3, 14, 30)),  # morning too short now; shift change until 14:30
    (berlin(2026, 3, 3, 14, 0), 60, berlin(2026, 3, 3, 14, 30)),
    (berlin(2026, 3, 3, 15, 0), 90, berlin(2026, 3, 4, 9, 0)),
    (berlin(2026, 3, 5, 16, 0), 30, berlin(2026, 3, 10, 9, 0)),  # Thursday evening: skips Fri–Mon
    (berlin(2026, 3, 20, 8, 0), 30, berlin(2026, 4, 1, 9, 0)),  # quarter end 03-22..03-31
    (berlin(2026, 12, 31, 13, 0), 90, berlin(2027, 1, 5, 9, 0)),  # across the year end
    (berlin(2026, 4, 7, 8, 0), 30, berlin(2026, 4, 7, 9, 0)),  # summer time: 07:00 UTC
])
def test_next_slot_default_policy(after, duration, expected):
    slot = next_slot(DEFAULT, PROD, minutes(duration), after)
    assert slot.allowed, slot.summary()
    assert slot.start == expected and slot.end == expected + minutes(duration)
    assert slot.start.tzinfo is UTC
    assert slot.window is not None and slot.window.local_start.date() == expected.date()


def test_window_is_local_time_in_both_seasons():
    winter = next_slot(DEFAULT, PROD, minutes(30), berlin(2026, 3, 3, 0, 0))
    summer = next_slot(DEFAULT, PROD, minutes(30), berlin(2026, 4, 7, 0, 0))
    assert winter.start == datetime(2026, 3, 3, 8, tzinfo=UTC)
    assert summer.start == datetime(2026, 4, 7, 7, tzinfo=UTC)


def test_next_slot_avoids_busy_intervals():
    busy = [(berlin(2026, 3, 3, 9, 0), berlin(2026, 3, 3, 10, 0))]
    assert next_slot(DEFAULT, PROD, minutes(60), berlin(2026, 3, 3, 8), busy=busy).start == berlin(2026, 3, 3, 10, 0)
    assert next_slot(DEFAULT, PROD, minutes(90), berlin(2026, 3, 3, 8), busy=busy).start == berlin(2026, 3, 3, 14, 30)


def test_next_slot_when_no_window_is_long_enough():
    slot = next_slot(DEFAULT, PROD, timedelta(hours=3), berlin(2026, 3, 3, 8))
    assert not slot.allowed and slot.start is None
    assert [(r.code, r.message) for r in slot.reasons] == [
        ("window_too_short", "no window is long enough for 3h: the longest is 2h ('morning')")]


def test_next_slot_when_the_horizon_is_frozen():
    freeze = AdhocFreeze("migration", berlin(2026, 3, 1), berlin(2026, 5, 1), reason="ERP migration")
    slot = next_slot(DEFAULT, PROD, minutes(90), berlin(2026, 3, 3, 8), extra_blackouts=[freeze],
                     horizon=timedelta(days=30))
    assert not slot.allowed
    assert [(r.code, r.message) for r in slot.reasons] == [
        ("no_slot", "no free slot of 1h30m within 30 days after Tue 2026-03-03 08:00 Europe/Berlin")]


def test_next_slot_no_window_in_scope():
    scoped = policy(windows=[{"name": "prod-only", "days": ["tue"], "start": "09:00", "end": "11:00",
                              "environments": ["prod"]}])
    slot = next_slot(scoped, ScheduleContext("uat"), minutes(30), berlin(2026, 3, 3, 8))
    assert [(r.code, r.message) for r in slot.reasons] == [
        ("no_window", "no deployment window applies to environment 'uat'")]
    assert codes(explain(scoped, ScheduleContext("uat"), berlin(2026, 3, 3, 9), minutes(30))) == ["no_window"]


def test_emergency_next_slot_is_now_unless_a_hard_blackout():
    after = berlin(2026, 3, 6, 22, 45)  # Friday evening, a Friday and a shift change overridden
    assert next_slot(DEFAULT, EMERGENCY, minutes(60), after).start == after
    with_peak = policy(blackouts=[*DEFAULT.model_dump()["blackouts"], PEAK.model_dump()])
    slot = next_slot(with_peak, EMERGENCY, minutes(60), berlin(2026, 12, 30, 12))
    assert slot.start == berlin(2027, 1, 1, 0, 0)  # the first minute after peak season


# --- ad-hoc freezes and scopes ---------------------------------------------------------------


def test_adhoc_freeze_blocks_with_its_reason_and_scope():
    freeze = AdhocFreeze("audit", berlin(2026, 3, 3, 0), berlin(2026, 3, 4, 0), items=("mes",),
                         reason="external audit on site")
    hit = explain(DEFAULT, PROD, berlin(2026, 3, 3, 9), minutes(30), [freeze])
    assert not hit.allowed
    assert hit.reasons[0].message == ("Tue 2026-03-03 09:00–09:30 Europe/Berlin overlaps freeze 'audit' "
                                      "(Tue 2026-03-03 00:00–24:00 Europe/Berlin: external audit on site)")
    other = ScheduleContext("prod", items={"erp"})
    assert explain(DEFAULT, other, berlin(2026, 3, 3, 9), minutes(30), [freeze]).allowed
    assert next_slot(DEFAULT, PROD, minutes(30), berlin(2026, 3, 3, 8), [freeze]).start == berlin(2026, 3, 4, 9)


def test_adhoc_freeze_emergency_override():
    freeze = AdhocFreeze("demo", berlin(2026, 3, 3, 0), berlin(2026, 3, 4, 0), emergency_override=True)
    decision = explain(DEFAULT, EMERGENCY, berlin(2026, 3, 3, 9), minutes(30), [freeze])
    assert decision.allowed and "emergency_override" in codes(decision)


def test_adhoc_freeze_must_end_after_it_starts():
    with pytest.raises(ValueError, match="ends before it starts"):
        AdhocFreeze("x", berlin(2026, 3, 3), berlin(2026, 3, 3))


def test_site_and_item_scopes():
    scoped = policy(blackouts=[{"name": "line-2-maintenance", "kind": "weekly", "days": ["tue"], "sites": ["hamburg"]},
                               {"name": "mes-freeze", "kind": "weekly", "days": ["wed"], "items": ["mes"]}])
    tuesday, wednesday = berlin(2026, 3, 3, 9), berlin(2026, 3, 4, 9)
    assert not explain(scoped, ScheduleContext("prod", site="hamburg"), tuesday, minutes(30)).allowed
    assert explain(scoped, ScheduleContext("prod", site="munich"), tuesday, minutes(30)).allowed
    assert explain(scoped, ScheduleContext("prod"), tuesday, minutes(30)).allowed  # no site: site rules do not apply
    assert not explain(scoped, ScheduleContext("prod", items={"mes", "erp"}), wednesday, minutes(30)).allowed
    assert explain(scoped, ScheduleContext("prod", items={"erp"}), wednesday, minutes(30)).allowed


def test_extra_blackouts_may_be_policy_models():
    decision = explain(DEFAULT, PROD, berlin(2026, 11, 17, 9), minutes(30), [PEAK])
    assert not decision.allowed and "'peak-season'" in decision.reasons[0].message


# --- DST -------------------------------------------------------------------------------------


def sunday_window(start: str, end: str) -> SchedulePolicy:
    return SchedulePolicy(windows=[{"name": "night", "days": ["sun"], "start": start, "end": end}], blackouts=[])


def test_spring_forward_skipped_hour_has_no_window():
    night = sunday_window("02:00", "03:00")
    slot = next_slot(night, PROD, minutes(30), berlin(2026, 3, 28, 12))
    assert slot.start == berlin(2026, 4, 5, 2, 0)  # not on 2026-03-29, when 02:00–03:00 does not exist
    assert [e.start.date() for e in calendar_entries(night, "prod", berlin(2026, 3, 22), berlin(2026, 4, 6))] == [
        date(2026, 3, 22), date(2026, 4, 5)]
    assert codes(explain(night, PROD, datetime(2026, 3, 29, 1, 0, tzinfo=UTC), minutes(1))) == ["outside_window"]


def test_spring_forward_window_across_the_gap_is_an_hour_shorter():
    night = sunday_window("01:00", "04:00")  # 2h of real time on 2026-03-29
    assert explain(night, PROD, berlin(2026, 3, 29, 1, 0), minutes(120)).allowed
    assert not explain(night, PROD, berlin(2026, 3, 29, 1, 0), minutes(121)).allowed
    assert next_slot(night, PROD, minutes(150), berlin(2026, 3, 28)).start == berlin(2026, 4, 5, 1, 0)


def test_fall_back_repeated_hour_is_covered_twice():
    night = sunday_window("02:00", "03:00")  # 2h of real time on 2026-10-25: 00:00–02:00 UTC
    slot = next_slot(night, PROD, minutes(90), berlin(2026, 10, 24))
    assert slot.start == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert (slot.window.start, slot.window.end) == (datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
                                                    datetime(2026, 10, 25, 2, 0, tzinfo=UTC))
    # The same 90 minutes do not fit in the 1-hour window of an ordinary Sunday.
    assert not next_slot(night, PROD, minutes(90), berlin(2026, 10, 26), horizon=timedelta(days=60)).allowed


def test_fall_back_window_inside_the_repeated_hour_occurs_twice():
    night = sunday_window("02:15", "02:45")
    first = next_slot(night, PROD, minutes(30), berlin(2026, 10, 24))
    second = next_slot(night, PROD, minutes(30), datetime(2026, 10, 25, 0, 16, tzinfo=UTC))
    assert first.start == datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 02:15 CEST
    assert second.start == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET
    # Two pieces an hour apart are not one window: 90 minutes from the first piece do not fit.
    assert not explain(night, PROD, datetime(2026, 10, 25, 0, 15, tzinfo=UTC), minutes(90)).allowed


def test_midnight_shift_change_margin_reaches_into_the_evening_before():
    late = SchedulePolicy(windows=[{"name": "late", "days": ["tue"], "start": "23:00", "end": "24:00"}],
                          blackouts=[{"name": "night-shift", "kind": "shift_change", "times": ["00:00"]}])
    assert explain(late, PROD, berlin(2026, 3, 3, 23, 0), minutes(30)).allowed
    blocked = explain(late, PROD, berlin(2026, 3, 3, 23, 15), minutes(30))
    assert blocked.reasons[0].message == ("Tue 2026-03-03 23:15–23:45 Europe/Berlin overlaps blackout 'night-shift' "
                                          "(Tue 2026-03-03 23:30 – Wed 2026-03-04 00:30)")
    assert not explain(late, PROD, berlin(2026, 3, 3, 23, 0), minutes(31)).allowed


def test_shift_change_margin_follows_local_time_across_dst():
    # The 06:00 handover blackout is 05:30–06:30 local: 04:30 UTC in winter, 03:30 UTC in summer.
    entries = calendar_entries(DEFAULT, "prod", berlin(2026, 3, 28), berlin(2026, 3, 30))
    handovers = [(e.start, e.end) for e in entries if e.name == "shift-change" and e.description.endswith("06:30")]
    assert handovers == [(datetime(2026, 3, 28, 4, 30, tzinfo=UTC), datetime(2026, 3, 28, 5, 30, tzinfo=UTC)),
                         (datetime(2026, 3, 29, 3, 30, tzinfo=UTC), datetime(2026, 3, 29, 4, 30, tzinfo=UTC))]


# --- quarter end, holidays, monthly windows --------------------------------------------------


def test_quarter_end_covers_the_last_days_of_each_quarter():
    decision = explain(DEFAULT, PROD, berlin(2026, 3, 24, 9), minutes(30))
    assert decision.reasons[0].message == ("Tue 2026-03-24 09:00–09:30 Europe/Berlin overlaps blackout 'quarter-end' "
                                           "(last 10 days of Q1 2026: 2026-03-22 – 2026-03-31)")
    june = policy(blackouts=[{"name": "q", "kind": "quarter_end", "days": 31}])  # June has 30 days
    entries = [e for e in calendar_entries(june, "prod", berlin(2026, 5, 1), berlin(2026, 7, 10))
               if e.kind == "blackout"]
    assert [(e.start, e.end) for e in entries] == [(berlin(2026, 5, 31), berlin(2026, 7, 1))]


def tuesday_holiday() -> tuple[date, str]:
    """A public holiday of Bavaria falling on a Tuesday in 2026 or 2027, from the holidays package."""
    for year in (2026, 2027):
        for day, name in sorted(holidays.country_holidays("DE", subdiv="BY", years=year, language="en_US").items()):
            if day.weekday() == 1:
                return day, name
    raise AssertionError("no Tuesday holiday in Bavaria in 2026–2027")


def test_holiday_on_a_tuesday_is_a_blackout():
    day, name = tuesday_holiday()
    bavaria = policy(blackouts=[{"name": "holidays-de-by", "kind": "holidays", "country": "DE", "subdivision": "BY"}])
    decision = explain(bavaria, PROD, berlin(day.year, day.month, day.day, 9), minutes(30))
    assert not decision.allowed
    assert decision.reasons[0].message.endswith(f"overlaps blackout 'holidays-de-by' ({day:%a %Y-%m-%d}: {name})")
    slot = next_slot(bavaria, PROD, minutes(30), berlin(day.year, day.month, day.day, 8))
    assert slot.start == berlin(day.year, day.month, day.day, 9) + timedelta(days=1)  # the Wednesday after
    assert explain(DEFAULT, PROD, berlin(day.year, day.month, day.day, 9), minutes(30)).allowed  # opt-in only


def test_monthly_third_saturday_window():
    monthly = SchedulePolicy(windows=[{"name": "monthly-maintenance", "monthly": {"week": 3, "day": "sat"},
                                       "start": "08:00", "end": "12:00", "environments": ["prod"]}])
    slot = next_slot(monthly, PROD, timedelta(hours=4), berlin(2026, 3, 1))
    assert slot.start == berlin(2026, 3, 21, 8) and slot.window.name == "monthly-maintenance"
    assert next_slot(monthly, PROD, timedelta(hours=4), berlin(2026, 3, 21, 8, 1)).start == berlin(2026, 4, 18, 8)
    assert codes(next_slot(monthly, ScheduleContext("uat"), minutes(30), berlin(2026, 3, 1))) == ["no_window"]


def test_monthly_last_saturday_window():
    monthly = SchedulePolicy(windows=[{"name": "last-sat", "monthly": {"week": "last", "day": "sat"},
                                       "start": "08:00", "end": "12:00"}], blackouts=[])
    assert next_slot(monthly, PROD, minutes(60), berlin(2026, 2, 1)).start == berlin(2026, 2, 28, 8)


# --- calendar --------------------------------------------------------------------------------


def test_calendar_entries_for_one_week():
    entries = calendar_entries(DEFAULT, "prod", berlin(2026, 3, 2), berlin(2026, 3, 9))  # Mon..Mon
    windows = [(e.name, e.start) for e in entries if e.kind == "window"]
    assert windows == [(name, berlin(2026, 3, day, hour)) for day in (3, 4, 5)
                       for name, hour in (("morning", 9), ("afternoon", 14))]
    fridays = [e for e in entries if e.name == "friday"]
    assert [(e.start, e.end, e.emergency_override) for e in fridays] == [(berlin(2026, 3, 6), berlin(2026, 3, 7), True)]
    assert sum(e.name == "shift-change" for e in entries) == 7 * 3
    assert all(berlin(2026, 3, 2) <= e.start < e.end <= berlin(2026, 3, 9) for e in entries)
    assert entries == sorted(entries, key=lambda e: (e.start, e.kind != "window", e.name))


def test_calendar_merges_a_quarter_end_into_one_entry_and_clips_to_the_range():
    entries = [e for e in calendar_entries(DEFAULT, "prod", berlin(2026, 3, 25), berlin(2026, 4, 3))
               if e.name == "quarter-end"]
    assert [(e.start, e.end, e.rule) for e in entries] == [(berlin(2026, 3, 25), berlin(2026, 4, 1), "quarter_end")]


def test_calendar_for_an_environment_lists_rules_of_every_site_and_item():
    scoped = policy(blackouts=[{"name": "mes-freeze", "kind": "weekly", "days": ["wed"], "items": ["mes"]}])
    week = (berlin(2026, 3, 2), berlin(2026, 3, 9))
    assert [e.name for e in calendar_entries(scoped, "prod", *week) if e.kind == "blackout"] == ["mes-freeze"]
    assert [e.name for e in calendar_entries(scoped, ScheduleContext("prod", items={"erp"}), *week)
            if e.kind == "blackout"] == []


def test_calendar_merges_consecutive_holidays():
    bavaria = policy(blackouts=[{"name": "holidays-de-by", "kind": "holidays", "country": "DE", "subdivision": "BY"}])
    names = holidays.country_holidays("DE", subdiv="BY", years=2026, language="en_US")
    [christmas] = [e for e in calendar_entries(bavaria, "prod", berlin(2026, 12, 20), berlin(2026, 12, 31))
                   if e.kind == "blackout"]
    assert (christmas.start, christmas.end) == (berlin(2026, 12, 25), berlin(2026, 12, 27))
    assert christmas.description == (f"Fri 2026-12-25: {names[date(2026, 12, 25)]}; "
                                     f"Sat 2026-12-26: {names[date(2026, 12, 26)]}")


def test_calendar_includes_adhoc_freezes():
    freeze = AdhocFreeze("audit", berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 18), reason="auditors on site")
    entries = calendar_entries(DEFAULT, "prod", berlin(2026, 3, 3), berlin(2026, 3, 4), [freeze])
    audit = [e for e in entries if e.rule == "adhoc"]
    assert [(e.name, e.start, e.end, e.description) for e in audit] == [
        ("audit", berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 18), "auditors on site")]


def test_codes_are_stable_strings():
    assert {c.value for c in ScheduleCode} == {
        "outside_window", "window_too_short", "no_window", "blackout", "no_slot", "inside_window",
        "emergency_override", "emergency_outside_window", "schedule_not_enforced"}
