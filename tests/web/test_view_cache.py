"""The pages' views are kept while the audit chain's head stays put (services/web_cache.py): any write,
through the pages, the API, the CLI or another process, shows at the next request."""

from __future__ import annotations

from datetime import timedelta

import pytest

import re

from playwright.sync_api import expect

from browsing import assessed_change, sign_in
from changegate.schemas.changes import ApprovalIn, CommentIn
from changegate.services import changes, web_cache


def test_a_write_elsewhere_shows_at_the_next_request(page, server, runtime, passwords_for, clock):
    ref = assessed_change(runtime)
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    waiting = page.get_by_role("table", name="Approvals waiting for your roles")
    expect(waiting).to_contain_text(ref)
    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("assessed")

    with runtime.uow() as uow:  # not through the pages: as the CLI or another server process would
        changes.add_comment(uow, runtime.context("omar.ops"), ref, CommentIn(body="Line 3 stops at noon."))
        changes.decide_approval(uow, runtime.context("omar.ops"), ref, ApprovalIn(role="operations_manager"))
    page.reload()
    expect(page.get_by_role("region", name="Comments")).to_contain_text("Line 3 stops at noon.")
    expect(page.get_by_role("table", name="Decisions recorded")).to_contain_text("omar.ops")

    # Time alone (no write) renews a view once the minute turns: the gate is as if deployed now.
    gate = page.get_by_role("table", name=re.compile("Gate if you deployed"))
    expect(gate).to_contain_text("2026-12-01 08:00 UTC")
    clock.now += timedelta(seconds=30)
    page.reload()
    expect(gate).to_contain_text("2026-12-01 08:00 UTC")  # the same minute: the view kept
    clock.now += timedelta(minutes=1)
    page.reload()
    expect(gate).to_contain_text("2026-12-01 08:01 UTC")


def test_the_cache_keeps_the_newest_views_only():
    cache = web_cache.ViewCache(size=2)
    made = []
    for key in ("a", "b", "a", "c", "b"):
        cache.get(key, lambda k=key: made.append(k) or k.upper())
    assert made == ["a", "b", "c", "b"]  # "a" was kept while used; "b" was the oldest when "c" came


def test_a_change_page_with_much_text_is_not_kept():
    from types import SimpleNamespace

    cache, made = web_cache.ViewCache(), []
    big = SimpleNamespace(previews={1: "x" * (web_cache.KEPT_TEXT + 1)})
    small = SimpleNamespace(previews={1: "x" * 100})
    for view in (big, big, small, small):
        cache.get(id(view), lambda v=view: made.append(v) or v, web_cache.small_enough)
    assert made == [big, big, small]  # the big one was built each time; the small one once


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_kept_page_parts_follow_every_write(runtime):
    """The change page's kept record (by row version) and history (grown from its last event) are always what
    a page read from scratch shows: after a refused attempt (an event without a write to the change) too."""
    from changegate.core.errors import Forbidden
    from changegate.services import dashboard

    ref = assessed_change(runtime)
    parts = web_cache.PageParts()

    def both():
        with runtime.uow(write=False) as uow:
            kept = dashboard.change_page(uow, runtime.context("ines.itmgr"), ref, parts)
        with runtime.uow(write=False) as uow:
            fresh = dashboard.change_page(uow, runtime.context("ines.itmgr"), ref)
        assert (kept.change, kept.history, kept.previews) == (fresh.change, fresh.history, fresh.previews)
        return kept

    events = len(both().history)
    with pytest.raises(Forbidden), runtime.uow() as uow:  # her own change: refused and audited
        changes.decide_approval(uow, runtime.context("dana.dev"), ref, ApprovalIn(role="it_manager"))
    assert [e.action for e in both().history[events:]] == ["change.approve.refused"]
    with runtime.uow() as uow:
        changes.add_comment(uow, runtime.context("omar.ops"), ref, CommentIn(body="Line 3 stops at noon."))
    page = both()
    assert [c.body for c in page.change.comments] == ["Line 3 stops at noon."]
    assert page.history[-1].action == "comment.added"
    assert both().history == page.history  # read again: nothing new
    # A kept history whose last event is not in the database as kept (a restored backup): read again whole.
    from types import SimpleNamespace

    parts._histories.put(f"change:{ref.removeprefix('CHG-')}", (["not this"], SimpleNamespace(seq=1, hash="0" * 64)))
    assert both().history == page.history
