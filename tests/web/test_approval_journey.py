"""An IT manager and an operations manager approve a minor change in the browser (both engines)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from browsing import assessed_change, screenshot, sign_in


def test_it_and_operations_managers_approve_a_minor_change(page, server, runtime, passwords_for, database_url):
    ref = assessed_change(runtime)
    passwords_for("ines.itmgr", "omar.ops")
    engine = database_url.split(":")[0].split("+")[0]

    # The IT manager finds it on her dashboard and approves it from the queue.
    sign_in(page, server, "ines.itmgr")
    expect(page.get_by_role("heading", name="What needs you, Ines IT-Manager")).to_be_visible()
    expect(page.get_by_role("contentinfo")).to_contain_text("Signed in as ines.itmgr")
    expect(page.get_by_role("contentinfo")).to_contain_text(re.compile(r"changegate \d+\.\d+"))
    expect(page.get_by_role("table", name="Approvals waiting for your roles")).to_contain_text(ref)
    page.get_by_role("link", name="Approvals", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(ref))).to_be_visible()
    screenshot(page, f"approvals-{engine}")
    page.get_by_role("button", name=f"Approve {ref} as it manager").click()
    expect(page.get_by_role("status")).to_contain_text(f"{ref} approved as it manager; it is now assessed")
    expect(page.get_by_text("Nothing waits for your decision.")).to_be_visible()

    # The operations manager approves it from the change page; it becomes authorized.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, "omar.ops")
    page.goto(f"{server}/changes/{ref}")
    page.get_by_role("button", name=f"Approve {ref} as operations manager").click()
    expect(page.get_by_role("status")).to_contain_text("it is now authorized")
    decisions = page.get_by_role("table", name="Decisions recorded")
    expect(decisions).to_contain_text("ines.itmgr")
    expect(decisions).to_contain_text("omar.ops")
    expect(page.get_by_role("table", name=re.compile("Every event recorded"))).to_contain_text("change.authorize")
    screenshot(page, f"change-{engine}")
    with runtime.uow(write=False) as uow:
        assert changes_state(uow, ref) == "authorized"


def changes_state(uow, ref: str) -> str:
    from changegate.services.lookup import load

    return load(uow, ref).state
