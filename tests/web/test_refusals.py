"""What the pages refuse, in the browser: self-approval, a form without its CSRF token, repeated failed
sign-ins. Each refusal is checked on the server's side too (nothing recorded, or the lock-out audited)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from browsing import PASSWORD, assessed_change, screenshot, sign_in
from changegate.services import passwords
from changegate.services.lookup import load

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def approvals_of(runtime, ref: str) -> list[tuple[str, str]]:
    with runtime.uow(write=False) as uow:
        return [(a.approver, a.decision) for a in load(uow, ref).approvals]


def forge(page, action: str, fields: dict[str, str]) -> None:
    """Submit a form the page never offered, from the page itself (same origin, the session cookie sent)."""
    page.evaluate("""([action, fields]) => {
        const form = document.createElement("form");
        form.method = "post"; form.action = action;
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value; form.appendChild(input);
        }
        document.body.appendChild(form); form.submit();
    }""", [action, fields])
    page.wait_for_load_state()


@sqlite_only
def test_self_approval_is_not_offered_and_refused_when_forged(page, server, runtime, passwords_for):
    ref = assessed_change(runtime, requester="ivy.itdev", level="patch", title="Ivy's own label fix")
    passwords_for("ivy.itdev")
    sign_in(page, server, "ivy.itdev")
    expect(page.get_by_role("table", name="Changes you requested")).to_contain_text(ref)
    expect(page.get_by_text("none — nothing waits for you.")).to_be_visible()
    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("heading", name=f"{ref} Ivy's own label fix")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    page.goto(f"{server}/approvals")
    expect(page.get_by_text("Nothing waits for your decision.")).to_be_visible()

    csrf = page.locator("input[name=csrf]").first.input_value()
    forge(page, f"/changes/{ref}/approvals", {"csrf": csrf, "role": "it_manager", "decision": "approved"})
    expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(f"cannot approve {ref} as it_manager")
    expect(page.get_by_role("listitem").filter(has_text="ivy.itdev requested")).to_contain_text("cannot approve it")
    screenshot(page, "refused-self-approval")
    assert approvals_of(runtime, ref) == []
    with runtime.uow(write=False) as uow:
        actions = [e.action for e in uow.audit.for_entity(f"change:{ref.removeprefix('CHG-')}")]
    assert actions[-1] == "change.approve.refused"


@sqlite_only
def test_a_form_without_its_csrf_token_is_refused(page, server, runtime, passwords_for):
    ref = assessed_change(runtime)
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    page.goto(f"{server}/changes/{ref}")
    form = page.locator("form", has=page.get_by_role("button", name=f"Approve {ref} as it manager"))
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    form.get_by_role("button").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("CSRF token is missing")

    # A wrong token (another session's, or made up) is refused the same way.
    forge(page, f"/changes/{ref}/approvals", {"csrf": "made-up", "role": "it_manager", "decision": "approved"})
    expect(page.get_by_role("alert")).to_contain_text("CSRF token is missing or does not match")
    assert approvals_of(runtime, ref) == []

    # The sign-out form is a form too.
    forge(page, "/sign-out", {})
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="What needs you, Ines IT-Manager")).to_be_visible()


@sqlite_only
def test_repeated_failed_sign_ins_lock_the_person_out(page, server, runtime, passwords_for, clock):
    passwords_for("omar.ops")
    for attempt in range(passwords.MAX_FAILURES):
        sign_in(page, server, "omar.ops", "not the password")
        expect(page.get_by_role("alert")).to_have_text("wrong person or password")
    sign_in(page, server, "omar.ops", PASSWORD)  # the right password, too late
    expect(page.get_by_role("alert")).to_contain_text("omar.ops is locked out until 2026-12-01 08:15 UTC")
    screenshot(page, "sign-in-locked-out")
    with runtime.uow(write=False) as uow:
        events = [(e.actor, e.action) for e in uow.audit.for_entity("person:omar.ops")]
    assert events.count(("anonymous", "signin.failed")) == passwords.MAX_FAILURES + 1
    assert ("anonymous", "signin.locked") in events
    assert ("omar.ops", "signin.succeeded") not in events

    clock.advance(minutes=16)  # the lock-out ends
    sign_in(page, server, "omar.ops", PASSWORD)
    expect(page.get_by_role("heading", name="What needs you, Omar Operations")).to_be_visible()


@sqlite_only
def test_pages_need_a_signed_in_person_and_api_tokens_still_work(page, server, tokens, passwords_for):
    import httpx

    page.goto(f"{server}/changes?state=assessed")
    expect(page).to_have_url(f"{server}/sign-in?next=%2Fchanges%3Fstate%3Dassessed")
    passwords_for("ines.itmgr")
    page.get_by_label("Person id").fill("ines.itmgr")  # on the page she was sent to: back where she was going
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/changes?state=assessed")
    expect(page.get_by_label("State")).to_have_value("assessed")
    assert httpx.get(f"{server}/api/v1/me", headers={"Authorization": f"Bearer {tokens['ines.itmgr']}"}
                     ).json()["id"] == "ines.itmgr"
    # The session cookie is no API credential: the API wants a token.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert httpx.get(f"{server}/api/v1/me", cookies=cookies).status_code == 401
