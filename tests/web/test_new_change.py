"""A developer files a change with evidence in the browser: validation beside the fields, the upload, submit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browsing import screenshot, sign_in


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_developer_files_a_change_with_evidence(page, server, runtime, passwords_for, tmp_path):
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    page.get_by_role("link", name="New change").click()
    page.get_by_label("Title (required)").fill("Show scrap rate on the line 3 screen")
    page.get_by_label("Environment (required)").select_option("prod")
    page.get_by_label("Version it ships").fill("not-a-version")
    page.get_by_role("button", name="Create the draft").click()

    # The refusals sit beside the fields they name, and what was typed stays.
    expect(page.get_by_role("alert")).to_contain_text("The change was not created")
    expect(page.get_by_label("Version it ships")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-version")).to_have_text("not a semantic version: write MAJOR.MINOR.PATCH, e.g. 2.4.1")
    expect(page.get_by_label("Title (required)")).to_have_value("Show scrap rate on the line 3 screen")
    screenshot(page, "new-change-errors")
    page.get_by_label("Version it ships").fill("1.6.0")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.locator("#err-category")).to_have_text("category is required")

    page.get_by_label("Category").select_option("application")
    page.get_by_label("Release level").select_option("minor")
    page.get_by_label("Items it touches").fill("mes-web, line-3")
    page.get_by_label("Impact analysis").fill("Line 3's screen reloads once.")
    page.get_by_label("Implementation plan").fill("Deploy mes-web 1.6.0 with the pipeline.")
    page.get_by_label("Verification plan").fill("Look at the screen.")
    page.get_by_label("Rollback plan (script)").fill("deploy mes-web 1.5.0")
    page.get_by_label("Planned start (Europe/Berlin)").fill("2026-12-02T09:00")
    page.get_by_label("Estimated downtime").fill("10m")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_role("status")).to_contain_text("CHG-1 created as a draft")
    expect(page.get_by_role("heading", level=1)).to_contain_text("CHG-1 Show scrap rate on the line 3 screen")
    expect(page.locator("dl.facts")).to_contain_text("2026-12-02 08:00 UTC (09:00 Europe/Berlin)")

    log = tmp_path / "uat.log"
    log.write_text("uat: 42 passed, 0 failed\n")
    page.get_by_label("File").set_input_files(str(log))
    page.get_by_label("Kind").select_option("test_log")
    page.get_by_label("Description").fill("UAT run of 1 December")
    page.get_by_role("button", name="Attach evidence").click()
    expect(page.get_by_role("status")).to_contain_text("uat.log attached to CHG-1")
    expect(page.get_by_label("Content of uat.log")).to_contain_text("uat: 42 passed, 0 failed")

    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status")).to_contain_text("CHG-1: submit done; it is now submitted")
    screenshot(page, "change-submitted")
    with runtime.uow(write=False) as uow:
        history = [e.action for e in uow.audit.for_entity("change:1")]
    assert history == ["change.created", "evidence.attached", "change.submit"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_evidence_larger_than_a_form_body_is_uploaded_and_too_large_is_refused(page, server, runtime,
                                                                              passwords_for, tmp_path):
    from browsing import assessed_change

    ref = assessed_change(runtime)
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/changes/{ref}")
    big = tmp_path / "long-run.log"
    big.write_bytes(b"x" * (40 * 1024) + b"\n")  # over the 32 KiB body limit, under the 64 KiB evidence limit
    page.get_by_label("File").set_input_files(str(big))
    page.get_by_role("button", name="Attach evidence").click()
    expect(page.get_by_role("status")).to_contain_text(f"long-run.log attached to {ref} (40961 bytes")

    too_big = tmp_path / "huge.log"
    too_big.write_bytes(b"x" * (65 * 1024))
    page.get_by_label("File").set_input_files(str(too_big))
    page.get_by_role("button", name="Attach evidence").click()
    expect(page.get_by_role("heading", name="Something in the form needs fixing")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("huge.log")
