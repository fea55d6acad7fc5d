"""A change manager schedules a change in a valid slot chosen on the calendar and sees the gate's verdict
(both engines); holidays and conflicts on the calendar."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from browsing import authorized_change, screenshot, sign_in
from changegate.schemas.changes import TransitionIn
from changegate.schemas.schedule import AcceptConflictIn
from changegate.services import changes, schedule
from changegate.services.lookup import load


def test_a_change_manager_schedules_a_change_in_a_slot_offered_by_the_calendar(page, server, runtime, passwords_for,
                                                                                database_url):
    ref = authorized_change(runtime)  # 10 minutes on mes-web and line-3 in prod
    passwords_for("chris.change")
    engine = database_url.split(":")[0].split("+")[0]
    sign_in(page, server, "chris.change")

    # The calendar lists the changes waiting for a slot; choosing one offers its next valid slots.
    page.get_by_role("link", name="Calendar").click()
    page.get_by_role("link", name=f"Choose a slot for {ref}").click()
    slots = page.get_by_role("region", name=f"Next valid slots for {ref}")
    # Now is Tuesday 1 December, 09:00 in Berlin: the morning window is open; the afternoon window opens at
    # 14:30, after the shift change's blackout (14:00 ± 30 min).
    buttons = slots.get_by_role("button")
    expect(buttons).to_have_text([f"Schedule {ref} at Tue 01 Dec 09:00 Europe/Berlin",
                                  f"Schedule {ref} at Tue 01 Dec 14:30 Europe/Berlin",
                                  f"Schedule {ref} at Wed 02 Dec 09:00 Europe/Berlin",
                                  f"Schedule {ref} at Wed 02 Dec 14:30 Europe/Berlin",
                                  f"Schedule {ref} at Thu 03 Dec 09:00 Europe/Berlin"])
    screenshot(page, f"calendar-slots-{engine}")
    slots.get_by_role("button", name=f"Schedule {ref} at Tue 01 Dec 14:30 Europe/Berlin").click()

    # Scheduled through the same use case as the CLI and the API, and the change page shows the gate.
    expect(page.get_by_role("status")).to_contain_text(f"{ref}: schedule done; it is now scheduled")
    expect(page.get_by_role("heading", level=1)).to_contain_text(ref)
    expect(page.get_by_text("Planned start", exact=True).locator("xpath=following-sibling::dd[1]")).to_have_text(
        "2026-12-01 13:30 UTC (14:30 Europe/Berlin)")
    expect(page.get_by_role("table", name=re.compile("Gate if you deployed to prod"))).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Every event recorded"))).to_contain_text("change.schedule")
    with runtime.uow(write=False) as uow:
        change = load(uow, ref)
        assert (change.state, change.planned_start.isoformat()[:16]) == ("scheduled", "2026-12-01T13:30")

    # A scheduled change is offered the slots again, to reschedule it; the slot it holds is its own.
    page.goto(f"{server}/calendar?change={ref}")
    expect(page.get_by_role("region", name=f"Next valid slots for {ref}").get_by_role("button").first).to_have_text(
        f"Reschedule {ref} at Tue 01 Dec 09:00 Europe/Berlin")
    row = page.get_by_role("row", name="Tue 01 Dec")
    expect(row).to_contain_text(f"{ref} 14:30")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_slot_is_offered_only_to_those_who_may_schedule(page, server, runtime, passwords_for):
    ref = authorized_change(runtime)
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/calendar?change={ref}")
    expect(page.get_by_role("region", name=f"Next valid slots for {ref}")).to_contain_text(
        f"You may not schedule {ref} in its present state.")
    expect(page.get_by_role("button", name=re.compile("^Schedule"))).to_have_count(0)
    # Forged, the form is refused by the use case and the attempt audited.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{server}/changes/{ref}/transitions", form={
        "csrf": csrf, "action": "schedule", "planned_start": "2026-12-01T13:30:00+00:00"})
    assert answer.status == 403
    with runtime.uow(write=False) as uow:
        assert load(uow, ref).state == "authorized"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_calendar_names_holidays_and_highlights_conflicts(page, server, runtime, passwords_for):
    first = authorized_change(runtime, title="New MES release")
    second = authorized_change(runtime, title="MES web fonts", items=("mes-web",))  # the same slot as the first
    third = authorized_change(runtime, title="Line 3 label printer", items=("line-3",))
    cm = runtime.context("chris.change")
    with runtime.uow() as uow:
        changes.transition(uow, cm, first, TransitionIn(action="schedule"))  # Wed 2 Dec 09:00 Berlin
    with runtime.uow() as uow:  # a change manager accepts the overlap, so it may be scheduled too
        schedule.accept_conflict(uow, cm, second, AcceptConflictIn(other=first, reason="one team, one visit"))
    with runtime.uow() as uow:
        changes.transition(uow, cm, second, TransitionIn(action="schedule"))
    with runtime.uow() as uow:
        changes.transition(uow, cm, third, TransitionIn(action="schedule",
                                                        planned_start="2026-12-03T08:00:00Z"))
    # An unaccepted conflict cannot be scheduled through the use cases; a row written by hand (an older
    # version, a restored backup) can hold one, and the calendar must show it.
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE changes SET planned_start = :start WHERE id = :id"),
                           {"start": "2026-12-02 08:05:00.000000", "id": int(third.removeprefix("CHG-"))})

    passwords_for("chris.change")
    sign_in(page, server, "chris.change")
    page.goto(f"{server}/calendar?start=2026-12-01")
    wednesday = page.get_by_role("row", name="Wed 02 Dec")
    expect(wednesday.locator(".in-conflict")).to_have_count(2)  # the first and the third: not accepted
    expect(wednesday.locator(".in-conflict").first).to_contain_text(f"{first} 09:00 New MES release")
    expect(wednesday.locator(".conflict-accepted")).to_contain_text(f"{second} 09:00 MES web fonts")
    conflicts = page.get_by_role("note")
    expect(conflicts).to_contain_text(f"{first} and {second} both touch mes-web")
    expect(conflicts).to_contain_text("(accepted)")
    expect(conflicts).to_contain_text(f"{first} and {third} both touch line-3")
    screenshot(page, "calendar-conflicts")

    page.goto(f"{server}/calendar?start=2026-12-21")
    expect(page.get_by_role("row", name=re.compile("Fri 25 Dec"))).to_contain_text("holiday: Christmas Day")
    expect(page.get_by_role("row", name=re.compile("Sat 26 Dec"))).to_contain_text("holiday: Second Day of Christmas")
    expect(page.get_by_role("row", name=re.compile("Thu 24 Dec"))).not_to_contain_text("holiday:")
    screenshot(page, "calendar-holidays")
