"""What the dashboard and the queue list, as use cases (no browser)."""

from __future__ import annotations

import pytest

from browsing import assessed_change
from changegate.services import dashboard


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_long_waiting_lists_are_capped_and_counted(runtime):
    refs = [assessed_change(runtime, title=f"Change {i}") for i in range(dashboard.DASHBOARD_SHOWN + 2)]
    ines = runtime.context("ines.itmgr")
    with runtime.uow(write=False) as uow:
        board = dashboard.dashboard(uow, ines)
        queue = dashboard.approval_queue(uow, ines)
    assert board.waiting_count == queue.waiting == len(refs)
    assert [c.ref for c in board.waiting_for_me] == refs[::-1][:dashboard.DASHBOARD_SHOWN]  # the newest
    assert [i.change.ref for i in queue.items] == refs[:dashboard.QUEUE_SHOWN]  # the oldest first
    assert all(i.roles == ["it_manager"] for i in queue.items)
    with runtime.uow(write=False) as uow:  # the requester waits for nobody's approval of her own
        assert dashboard.dashboard(uow, runtime.context("dana.dev")).waiting_count == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_change_page_offers_what_the_viewer_may_do(runtime):
    ref = assessed_change(runtime)
    with runtime.uow(write=False) as uow:
        as_ines = dashboard.change_page(uow, runtime.context("ines.itmgr"), ref)
        as_dana = dashboard.change_page(uow, runtime.context("dana.dev"), ref)
        as_chris = dashboard.change_page(uow, runtime.context("chris.change"), ref)
    assert as_ines.approve_roles == ["it_manager"] and as_ines.actions == []
    assert as_dana.approve_roles == [] and "cancel" in as_dana.actions  # her own change: she may cancel it
    assert as_chris.approve_roles == [] and "cancel" in as_chris.actions
    assert as_ines.previews == {as_ines.change.evidence[0].id: "42 passed, 0 failed\n"}


@pytest.mark.parametrize("target, goes_to", [
    ("/changes?state=assessed", "/changes?state=assessed"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("changes", "/"), ("", "/"),
])
def test_sign_in_returns_only_to_a_page_of_this_site(target, goes_to):
    from changegate.web.auth import _local

    assert _local(target) == goes_to


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_today_is_the_plants_day_not_utcs(runtime, clock):
    """At 23:30 UTC on 1 December it is already 2 December in Berlin: a change at 09:00 Berlin time on the
    2nd is today's (by UTC's day it would be tomorrow's)."""
    from datetime import datetime, timezone

    from test_calendar import scheduled_change

    ref = scheduled_change(runtime)  # Wednesday 2 December, 08:00 UTC
    clock.now = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)
    with runtime.uow(write=False) as uow:
        board = dashboard.dashboard(uow, runtime.context("chris.change"))
    assert [e.change for e in board.today] == [ref]
    assert [e.change for e in board.week] == [ref]
    clock.now = datetime(2026, 12, 2, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 3rd in Berlin: it is gone
    with runtime.uow(write=False) as uow:
        board = dashboard.dashboard(uow, runtime.context("chris.change"))
    assert board.today == [] and board.week == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_may_asks_about_one_change_as_authorize_does_without_auditing(runtime):
    from changegate.core.policy.model import Permission
    from changegate.services.lookup import load
    from changegate.services.views import facts_of

    ref = assessed_change(runtime)  # dana.dev's
    with runtime.uow(write=False) as uow:
        facts = facts_of(load(uow, ref))
        events = uow.audit.head()[0]
    dana, rene = runtime.context("dana.dev"), runtime.context("rene.release")
    assert dana.may(Permission.CHANGE_MANAGE, change=facts)  # the requester manages her own change
    assert not rene.may(Permission.CHANGE_MANAGE, change=facts)  # not someone else's
    assert not dana.may(Permission.CHANGE_IMPLEMENT, environment="prod")  # a developer never deploys to prod
    with runtime.uow(write=False) as uow:
        assert uow.audit.head()[0] == events  # asking is not an attempt: nothing audited


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_week_ahead_lists_what_the_calendar_does(runtime, clock):
    """The dashboard reads the week through web_schedule.week_ahead (no windows, no conflicts; the policy's
    blackouts kept for the day): the same scheduled changes and restrictions in force as schedule.calendar."""
    from datetime import datetime, timedelta, timezone

    from test_calendar import scheduled_change

    from changegate.schemas.schedule import FreezeIn
    from changegate.services import schedule, web_schedule

    scheduled_change(runtime)
    clock.now = datetime(2026, 12, 1, 5, 10, tzinfo=timezone.utc)  # 06:10 in Berlin: the shift change's blackout
    start = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)
    end = start + timedelta(days=7)

    def both():
        ctx = runtime.context("chris.change")
        with runtime.uow(write=False) as uow:
            cal = schedule.calendar(uow, ctx, start, end)
            ahead = web_schedule.week_ahead(uow, ctx, start, end)
        in_force = [e for e in cal.entries if e.kind == "blackout" and e.start <= ctx.now < e.end]
        shown = lambda e: (e.name, e.environment, e.start, e.end, e.change, e.state, e.emergency_override)  # noqa: E731
        assert [shown(e) for e in ahead.restrictions_now] == [shown(e) for e in in_force]
        assert [shown(e) for e in ahead.scheduled] == [shown(e) for e in cal.entries if e.kind == "change"]
        return ahead

    assert {e.name for e in both().restrictions_now} == {"shift-change"}
    with runtime.uow() as uow:
        schedule.add_freeze(uow, runtime.context("chris.change"), FreezeIn(
            name="line 3 audit", start=clock.now - timedelta(hours=1), end=clock.now + timedelta(days=2),
            reason="auditors on site", environments=["prod"]))
    assert {e.name for e in both().restrictions_now} == {"shift-change", "line 3 audit"}
    assert len(both().scheduled) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_dashboard_from_kept_records_is_the_dashboard_read_afresh(runtime):
    """services/web_cache.RecordCache keeps records by row version (and the roles a person may decide in): after
    each write the kept dashboard is the one read from scratch."""
    from changegate.schemas.changes import ApprovalIn
    from changegate.services import changes, web_cache

    kept = web_cache.RecordCache()
    first, second = assessed_change(runtime), assessed_change(runtime, requester="ivy.itdev")

    def same(person: str):
        with runtime.uow(write=False) as uow:
            board = dashboard.dashboard(uow, runtime.context(person), kept)
        with runtime.uow(write=False) as uow:
            assert board == dashboard.dashboard(uow, runtime.context(person))
        return board

    assert [c.ref for c in same("ines.itmgr").waiting_for_me] == [second, first]
    assert [c.ref for c in same("ivy.itdev").mine] == [second]
    with runtime.uow() as uow:
        changes.decide_approval(uow, runtime.context("ines.itmgr"), first, ApprovalIn(role="it_manager"))
    assert [c.ref for c in same("ines.itmgr").waiting_for_me] == [second]
    assert [c.ref for c in same("omar.ops").waiting_for_me] == [second, first]


def test_the_queue_reads_no_comments(runtime):
    """The queue shows no comments, and a change may hold hundreds: before, it read (and validated) every
    comment of the 20 changes it shows, so a busy change made the whole queue slow."""
    from sqlalchemy import event

    from changegate.schemas.changes import CommentIn
    from changegate.services import changes

    ref = assessed_change(runtime)
    with runtime.uow() as uow:
        for n in range(5):
            changes.add_comment(uow, runtime.context("chris.change"), ref, CommentIn(body=f"comment {n}"))
    read: list[str] = []

    def watch(conn, cursor, statement, *args):
        if "FROM comments" in statement:
            read.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", watch)
    try:
        with runtime.uow(write=False) as uow:
            queue = dashboard.approval_queue(uow, runtime.context("ines.itmgr"))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", watch)
    assert [i.change.ref for i in queue.items] == [ref]
    assert read == []


def test_records_by_id_come_from_statements_compiled_once_and_equal_the_filtered_read(runtime):
    """What a fresh page re-reads (the changes written since it kept theirs) goes through SQL compiled once per
    dialect and number of ids, run on the driver; the records are those the general read gives, field by field."""
    from changegate.core.changes.entities import State
    from changegate.db.repositories import web_reads
    from changegate.schemas.changes import CommentIn
    from changegate.services import changes
    from changegate.services.lookup import parse_ref

    refs = [assessed_change(runtime, title=f"Change {i}") for i in range(3)]
    with runtime.uow() as uow:
        changes.add_comment(uow, runtime.context("chris.change"), refs[2], CommentIn(body="a comment"))
    ids = [parse_ref(ref) for ref in refs]
    every_state = [s.value for s in State]
    with runtime.uow(write=False) as uow:
        for full in (False, True):
            fast = uow.web_reads.change_records(ids=ids, limit=2, full=full)
            assert fast == uow.web_reads.change_records(ids=ids, limit=2, full=full, states=every_state)
            assert [r.id for r in fast] == ids[::-1][:2] and fast[0].items and fast[0].evidence
        assert fast[0].comments[0].body == "a comment" and fast[0].evidence[0].filename
        assert (uow.session.get_bind().dialect.name, "changes", 3) in web_reads._BY_IDS
