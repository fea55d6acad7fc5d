"""Editing a draft (the new-change form reused), then assessing with the analyses, UAT sign-off and
comments, all from the change page; each offered only to those allowed, and refused when forged."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browsing import screenshot, sign_in
from changegate.schemas.changes import ChangeCreate
from changegate.services import changes
from changegate.services.lookup import load


def draft(rt) -> str:
    body = ChangeCreate(title="Tune the historian's retention", category="application", release_level="minor",
                        environment="prod", items=["historian"], version="3.1.0", estimated_downtime=15,
                        planned_start="2026-12-02T08:00:00Z", impact_analysis="Reports older than 90 days go.",
                        implementation_plan="set the retention", verification_plan="run the monthly report",
                        rollback_plan={"script": "set retention 365d"})
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context("dana.dev"), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("dana.dev"), ref, filename="uat.log", content=b"ok\n",
                                media_type="text/plain", max_bytes=1000)
    return ref


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_requester_edits_her_draft_with_messages_beside_the_fields(page, server, runtime, passwords_for):
    ref = draft(runtime)
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/changes/{ref}")
    page.get_by_role("link", name="Edit this draft").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit {ref} (draft)")
    expect(page.get_by_label("Title (required)")).to_have_value("Tune the historian's retention")
    expect(page.get_by_label("Planned start (Europe/Berlin)")).to_have_value("2026-12-02T09:00")
    expect(page.get_by_label("Estimated downtime")).to_have_value("15")
    screenshot(page, "edit-draft")

    page.get_by_label("Title (required)").fill("Tune the historian's retention to 90 days")
    page.get_by_label("Version it ships").fill("3.1")
    page.get_by_label("Estimated downtime").fill("soon")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_role("alert")).to_contain_text("The draft was not saved: 2 fields to fix")
    expect(page.locator("#err-version")).to_contain_text("not a semantic version")
    expect(page.locator("#err-estimated_downtime")).to_be_visible()
    expect(page.get_by_label("Title (required)")).to_have_value("Tune the historian's retention to 90 days")

    page.get_by_label("Version it ships").fill("3.1.1")
    page.get_by_label("Estimated downtime").fill("20")
    page.get_by_label("Items it touches").fill("historian, line-3")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_role("status")).to_contain_text(f"{ref} saved")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tune the historian's retention to 90 days")
    expect(page.get_by_role("table", name=re.compile("Every event recorded"))).to_contain_text("change.edited")
    with runtime.uow(write=False) as uow:
        change = load(uow, ref)
        assert (change.version_label, change.estimated_downtime_minutes) == ("3.1.1", 20)
        assert sorted(i.name for i in change.items) == ["historian", "line-3"]

    # Once submitted it is no draft: no edit offered, and the form says why.
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("it is now submitted")
    expect(page.get_by_role("link", name="Edit this draft")).to_have_count(0)
    page.goto(f"{server}/changes/{ref}/edit")
    expect(page.get_by_role("alert")).to_contain_text(f"cannot edit {ref}: it is submitted; only drafts are edited")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_someone_else_is_not_offered_the_edit_and_a_forged_one_is_refused(page, server, runtime, passwords_for):
    ref = draft(runtime)
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("link", name="Edit this draft")).to_have_count(0)
    answer = page.goto(f"{server}/changes/{ref}/edit")
    assert answer.status == 403
    expect(page.get_by_role("alert")).to_contain_text("ines.itmgr (it_manager) may not change.manage")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{server}/changes/{ref}/edit", form={"csrf": csrf, "title": "Mine now",
                                                                     "category": "application",
                                                                     "release_level": "minor", "risk": "standard"})
    assert answer.status == 403
    with runtime.uow(write=False) as uow:
        assert load(uow, ref).title == "Tune the historian's retention"
        refusals = [e for e in uow.audit.for_entity(f"change:{load(uow, ref).id}") if e.action.endswith("refused")]
    assert len(refusals) >= 2 and {e.actor for e in refusals} == {"ines.itmgr"}  # the page and the forged POST


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_assess_sign_off_and_comment_from_the_change_page(page, server, runtime, passwords_for):
    ref = draft(runtime)
    passwords_for("dana.dev", "kim.keyuser", "chris.change")

    # The key user signs off UAT; the developer may not (not offered).
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("button", name="Sign off UAT")).to_have_count(0)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("it is now submitted")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "kim.keyuser")
    page.goto(f"{server}/changes/{ref}")
    page.get_by_label("Note with the UAT sign-off (optional)").fill("tried on the test line")
    page.get_by_role("button", name="Sign off UAT").click()
    expect(page.get_by_role("status")).to_contain_text(f"UAT of {ref} signed off by kim.keyuser")
    expect(page.get_by_text("UAT sign-off: by kim.keyuser")).to_contain_text("tried on the test line")
    expect(page.get_by_role("button", name="Sign off UAT")).to_have_count(0)  # once is enough
    page.get_by_label("Your comment").fill("Line 3 is idle on Wednesday mornings.")
    page.get_by_role("button", name="Add the comment").click()
    expect(page.get_by_role("status")).to_contain_text(f"comment added to {ref}")
    expect(page.get_by_role("region", name="Comments")).to_contain_text("Line 3 is idle on Wednesday mornings.")

    # The change manager assesses it with the readiness and risk analyses.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "chris.change")
    page.goto(f"{server}/changes/{ref}")
    page.get_by_label("Readiness analysis").fill("Backups verified; the vendor is on call.")
    page.get_by_label("Risk analysis").fill("Retention only; no schema change.")
    page.get_by_label("Risk", exact=True).select_option("important")
    page.get_by_role("group", name="Assessment").get_by_label("Reason (optional)").fill("ready")
    screenshot(page, "change-assess")
    page.get_by_role("button", name="Assess").click()
    expect(page.get_by_role("status")).to_contain_text(f"{ref}: assess done; it is now assessed")
    record = page.get_by_role("region", name="The record")
    expect(record).to_contain_text("Backups verified; the vendor is on call.")
    expect(record).to_contain_text("Retention only; no schema change.")
    with runtime.uow(write=False) as uow:
        change = load(uow, ref)
        assert (change.state, change.risk, change.uat_signoff_by) == ("assessed", "important", "kim.keyuser")
    expect(page.get_by_role("table", name=re.compile("Every event recorded"))).to_contain_text("reason: ready")
