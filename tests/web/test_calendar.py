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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_conflict_through_dependencies_is_named_by_its_path(page, server, runtime, passwords_for):
    """Two changes on items related in the CMDB (screen-x needs app-x, which needs db-x) overlap: the calendar
    says they are related through dependencies, with the path, not that they touch the same item."""
    from datetime import datetime, timedelta, timezone

    from changegate.schemas.changes import AssessIn, ChangeCreate
    from changegate.schemas.schedule import AcceptConflictIn
    from changegate.services import cmdb_files, schedule

    with runtime.uow() as uow:
        cmdb_files.import_files(uow, runtime.context("chris.change"), [
            ("i.csv", b"name,type,criticality\ndb-x,database,low\napp-x,application,low\nscreen-x,mes_screen,low\n"),
            ("r.csv", b"source,target,type\napp-x,db-x,depends_on\nscreen-x,app-x,depends_on\n")])
    planned = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)

    def scheduled(item: str, start: datetime, accept: str = "") -> str:
        body = ChangeCreate(title=f"Change {item}", category="application", release_level="patch",
                            environment="prod", items=[item], impact_analysis="x", implementation_plan="deploy",
                            verification_plan="check", rollback_plan={"script": "undo"}, planned_start=start,
                            estimated_downtime=30)
        steps = [("dana.dev", lambda uow, ctx: changes.create_change(uow, ctx, body).ref)]
        with runtime.uow() as uow:
            ref = steps[0][1](uow, runtime.context("dana.dev"))
        for person, step in (
            ("dana.dev", lambda uow, ctx: changes.attach_evidence(uow, ctx, ref, filename="uat.log", content=b"ok",
                                                                  media_type="text/plain", max_bytes=1000)),
            ("kim.keyuser", lambda uow, ctx: changes.sign_off_uat(uow, ctx, ref)),
            ("dana.dev", lambda uow, ctx: changes.transition(uow, ctx, ref, TransitionIn(action="submit"))),
            ("chris.change", lambda uow, ctx: changes.assess(uow, ctx, ref, AssessIn())),
            ("ines.itmgr", lambda uow, ctx: changes.decide_approval(uow, ctx, ref, ApprovalIn(role="it_manager"))),
            *((("chris.change", lambda uow, ctx: schedule.accept_conflict(
                uow, ctx, ref, AcceptConflictIn(other=accept, reason="one crew"))),) if accept else ()),
            ("chris.change", lambda uow, ctx: changes.transition(uow, ctx, ref, TransitionIn(action="schedule"))),
        ):
            with runtime.uow() as uow:
                step(uow, runtime.context(person))
        return ref

    db = scheduled("db-x", planned)
    screen = scheduled("screen-x", planned + timedelta(minutes=10), accept=db)
    passwords_for("chris.change")
    sign_in(page, server, "chris.change")
    page.goto(f"{server}/calendar?environment=prod&start=2026-12-02")
    conflicts = page.get_by_role("note")
    expect(conflicts).to_contain_text(f"{db} and {screen} are related through dependencies "
                                      "(screen-x ← app-x ← db-x) between")
    expect(conflicts).not_to_contain_text("both touch")
    expect(conflicts).to_contain_text("(accepted)")
