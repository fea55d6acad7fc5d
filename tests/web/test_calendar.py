"""The change calendar page: windows, blackouts and a scheduled change, week and month."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browsing import assessed_change, screenshot, sign_in
from changegate.schemas.changes import ApprovalIn, TransitionIn
from changegate.services import changes


def scheduled_change(runtime) -> str:
    ref = assessed_change(runtime)
    for person, role in (("ines.itmgr", "it_manager"), ("omar.ops", "operations_manager")):
        with runtime.uow() as uow:
            changes.decide_approval(uow, runtime.context(person), ref, ApprovalIn(role=role))
    with runtime.uow() as uow:
        changes.transition(uow, runtime.context("chris.change"), ref, TransitionIn(action="schedule"))
    return ref


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_week_shows_windows_blackouts_and_the_scheduled_change(page, server, runtime, passwords_for):
    ref = scheduled_change(runtime)  # Wednesday 2 December, 09:00 Europe/Berlin
    passwords_for("chris.change")
    sign_in(page, server, "chris.change")
    page.get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change calendar: week of Monday 30 November 2026")
    wednesday = page.get_by_role("row", name="Wed 02 Dec")
    expect(wednesday).to_contain_text("morning 09:00–11:00")
    expect(wednesday).to_contain_text(f"{ref} 09:00 Add OEE dashboard to the line screens")
    expect(page.get_by_role("row", name="Fri 04 Dec")).to_contain_text("friday all day")
    screenshot(page, "calendar-week")
    page.get_by_role("link", name=ref).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ref)

    page.goto(f"{server}/calendar?view=month&environment=prod&start=2026-12-15")
    expect(page.get_by_role("heading", level=1)).to_have_text("Change calendar: December 2026")
    expect(page.get_by_role("row", name="Thu 31 Dec")).to_be_visible()
    page.goto(f"{server}/calendar?start=yesterday")
    expect(page.get_by_role("alert")).to_contain_text("start 'yesterday' is not a date (YYYY-MM-DD)")
