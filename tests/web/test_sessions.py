"""Signed-in sessions as rows: a person ends one of their own, a token manager ends another person's, someone
else may not; sign-out ends the row, so a copy of the cookie is worthless afterwards. Each ending audited."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from browsing import screenshot, sign_in
from test_refusals import forge

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def ended_events(runtime, person: str) -> list[tuple[str, str]]:
    with runtime.uow(write=False) as uow:
        return [(e.actor, json.loads(e.detail)["reason"]) for e in uow.audit.for_entity(f"person:{person}")
                if e.action == "session.ended"]


def second_browser(browser, server: str, person: str):
    context = browser.new_context()
    other = context.new_page()
    sign_in(other, server, person)
    expect(other.get_by_role("contentinfo")).to_contain_text(f"Signed in as {person}")
    return context, other


@sqlite_only
def test_a_person_ends_one_of_their_sessions(page, browser, server, runtime, passwords_for):
    passwords_for("ines.itmgr")
    context, laptop = second_browser(browser, server, "ines.itmgr")
    try:
        sign_in(page, server, "ines.itmgr")
        page.get_by_role("link", name="Sessions").click()
        sessions = page.get_by_role("table", name=re.compile("Open sessions of ines.itmgr"))
        expect(sessions.get_by_role("row")).to_have_count(3)  # the header and two sessions
        expect(sessions).to_contain_text("127.0.0.1")
        expect(sessions).to_contain_text("(this session)")
        screenshot(page, "sessions")
        other = sessions.get_by_role("row").filter(has_not_text="(this session)").filter(has=page.get_by_role("button"))
        other.get_by_role("button", name=re.compile("End session")).click()
        expect(page.get_by_role("status")).to_contain_text("signed out")
        expect(page.get_by_role("table", name=re.compile("Open sessions")).get_by_role("row")).to_have_count(2)
        laptop.reload()  # the ended session's next page: sign in again
        expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        context.close()
    assert ended_events(runtime, "ines.itmgr") == [("ines.itmgr", "signed out")]

    page.get_by_role("button", name=re.compile("End this")).click()  # this very session: signed out here
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


@sqlite_only
def test_a_token_manager_ends_another_persons_session_and_nobody_else_may(page, browser, server, runtime,
                                                                          passwords_for):
    passwords_for("ines.itmgr", "chris.change", "omar.ops")
    context, ines = second_browser(browser, server, "ines.itmgr")
    try:
        sign_in(page, server, "omar.ops")  # not a token manager
        page.goto(f"{server}/sessions?person=ines.itmgr")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        with runtime.uow(write=False) as uow:
            session_id = uow.credentials.open_sessions("ines.itmgr", runtime.clock())[0].id
        page.goto(f"{server}/sessions")
        csrf = page.locator("input[name=csrf]").first.input_value()
        forge(page, f"/sessions/{session_id}/end", {"csrf": csrf})
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        ines.reload()
        expect(ines.get_by_role("contentinfo")).to_contain_text("Signed in as ines.itmgr")  # still signed in

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, server, "chris.change")
        page.goto(f"{server}/sessions")
        page.get_by_label("Person").select_option("ines.itmgr")
        page.get_by_role("button", name="Show their sessions").click()
        page.get_by_role("button", name=re.compile("End session")).click()
        expect(page.get_by_role("status")).to_contain_text(f"session {session_id} of ines.itmgr signed out")
        expect(page.get_by_text("ines.itmgr has no open session.")).to_be_visible()
        ines.reload()
        expect(ines.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        context.close()
    assert ended_events(runtime, "ines.itmgr") == [("chris.change", "ended by chris.change")]
    with runtime.uow(write=False) as uow:
        refused = [e.actor for e in uow.audit.for_entity("person:ines.itmgr") if e.action == "token.manage.refused"]
    assert refused == ["omar.ops", "omar.ops"]


@sqlite_only
def test_sign_out_ends_the_session_so_a_copied_cookie_is_refused(page, server, runtime, passwords_for):
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    copied = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.context.add_cookies(copied)  # the cookie as it was before sign-out
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert ended_events(runtime, "ines.itmgr") == [("ines.itmgr", "signed out")]
