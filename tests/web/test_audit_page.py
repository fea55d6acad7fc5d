"""The audit page: the head to anchor, and chain verification with its verdict, for auditors only."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browsing import assessed_change, screenshot, sign_in


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_auditor_verifies_the_chain_with_an_anchor(page, server, runtime, passwords_for):
    assessed_change(runtime)
    passwords_for("audrey.audit", "ines.itmgr")
    sign_in(page, server, "audrey.audit")
    page.get_by_role("link", name="Audit").click()
    anchor = page.locator("pre code").inner_text().strip()
    page.get_by_label("Anchor kept earlier (optional)").fill(anchor)
    page.get_by_role("button", name="Verify every event and record").click()
    expect(page.get_by_role("status")).to_contain_text("The chain is intact.")
    expect(page.get_by_role("status")).to_contain_text("holds the anchor given; 1 change records agree")
    screenshot(page, "audit")

    seq = anchor.split(":")[0]
    page.get_by_label("Anchor kept earlier (optional)").fill(f"{seq}:{'0' * 64}")
    page.get_by_role("button", name="Verify every event and record").click()
    expect(page.get_by_role("status")).to_contain_text(f"The chain is broken at event {seq}")

    # An IT manager may not read the audit trail: no link, and the page refuses.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "ines.itmgr")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    page.goto(f"{server}/audit")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
