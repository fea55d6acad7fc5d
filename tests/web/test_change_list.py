"""The change list's filters by release level and by planned date (days on the plant's clock)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browsing import screenshot, sign_in
from changegate.schemas.changes import ChangeCreate, ChangeFilter
from changegate.services import changes


def draft(rt, title: str, level: str, start: str | None) -> str:
    body = ChangeCreate(title=title, category="application", release_level=level, environment="prod",
                        planned_start=start)
    with rt.uow() as uow:
        return changes.create_change(uow, rt.context("dana.dev"), body).ref


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_filter_by_release_level_and_planned_date(page, server, runtime, passwords_for):
    patch = draft(runtime, "Patch the historian", "patch", "2026-12-02T08:00:00Z")
    major = draft(runtime, "Replace the MES", "major", "2026-12-02T23:30:00Z")  # 00:30 on the 3rd in Berlin
    later = draft(runtime, "Major, later", "major", "2026-12-10T08:00:00Z")
    draft(runtime, "Major, no date yet", "major", None)
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/changes")
    table = page.get_by_role("table")

    page.get_by_label("Release level").select_option("major")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_contain_text("3 changes")
    expect(table).not_to_contain_text(patch)

    # The 3rd on the plant's clock holds the major change planned at 23:30 UTC on the 2nd.
    page.get_by_label("Planned from (Europe/Berlin)").fill("2026-12-03")
    page.get_by_label("Planned until (Europe/Berlin)").fill("2026-12-03")
    page.get_by_role("button", name="Filter").click()
    expect(table).to_contain_text("1 changes")
    expect(table).to_contain_text(major)
    screenshot(page, "changes-filtered")

    page.goto(f"{server}/changes?planned_from=2026-12-02&planned_to=2026-12-02")
    expect(table).to_contain_text("1 changes")
    expect(table).to_contain_text(patch)
    page.goto(f"{server}/changes?level=major&planned_from=2026-12-01")
    expect(table).to_contain_text("2 changes")
    expect(table).to_contain_text(later)
    page.goto(f"{server}/changes?planned_from=2026-12-05&planned_to=2026-12-01")
    expect(page.get_by_role("alert")).to_contain_text("planned until is before planned from")
    page.goto(f"{server}/changes?planned_from=tomorrow")
    expect(page.get_by_role("alert")).to_contain_text("planned from 'tomorrow' is not a date (YYYY-MM-DD)")
    page.goto(f"{server}/changes?level=huge")
    expect(page.get_by_role("alert")).to_contain_text("release_level: unknown value 'huge'")


def test_a_misspelt_release_level_is_refused():
    with pytest.raises(Exception, match="release_level: unknown value 'mayor'"):
        ChangeFilter(release_level=["mayor"])
