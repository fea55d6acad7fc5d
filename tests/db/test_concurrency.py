"""Concurrent writers to one change end in one consistent state (real connections)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from changegate.core.errors import ChangegateError, Conflict, Unavailable
from changegate.db.engine import make_engine
from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate, TransitionIn
from changegate.services import audit, changes
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings


@pytest.fixture
def pg_url(pg_cluster, pg_template):
    return pg_cluster.url(pg_cluster.create_database("race", template=pg_template))


def make_runtime(url, clock) -> Runtime:
    return Runtime(Settings(database_url=url), make_engine(url), load_policy(DEFAULT_POLICY), clock)


def assessed_minor_change(rt: Runtime) -> str:
    """A minor change waiting for two approvals (IT manager and operations manager)."""
    body = ChangeCreate(
        title="Add OEE dashboard", category="application", release_level="minor", environment="prod",
        items=["mes-web"], impact_analysis="screens", implementation_plan="deploy", verification_plan="look",
        rollback_plan={"script": "undo"}, planned_start="2026-12-02T08:00:00Z", estimated_downtime=10,
    )
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context("dana.dev"), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("dana.dev"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    with rt.uow() as uow:
        changes.transition(uow, rt.context("dana.dev"), ref, TransitionIn(action="submit"))
    with rt.uow() as uow:
        changes.assess(uow, rt.context("chris.change"), ref, AssessIn())
    return ref


def race(url, clock, jobs):
    """Run each job in its own thread and connection; all reach their UPDATE of the change together."""
    barrier = threading.Barrier(len(jobs), timeout=10)
    outcomes: list = [None] * len(jobs)

    def worker(i, person, fn):
        rt = make_runtime(url, clock)

        @event.listens_for(rt.engine, "before_cursor_execute")
        def _meet(conn, cursor, statement, params, context, executemany):
            # Both transactions have read the same row version when they try to write it.
            if statement.startswith("UPDATE changes"):
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    pass

        try:
            with rt.uow() as uow:
                outcomes[i] = fn(uow, rt.context(person))
        except ChangegateError as exc:
            outcomes[i] = exc
        finally:
            rt.close()

    threads = [threading.Thread(target=worker, args=(i, p, f)) for i, (p, f) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.mark.postgresql
def test_two_approvers_at_the_same_instant(pg_url, clock):
    rt = make_runtime(pg_url, clock)
    ref = assessed_minor_change(rt)
    outcomes = race(pg_url, clock, [
        ("ines.itmgr", lambda uow, ctx: changes.decide_approval(uow, ctx, ref, ApprovalIn(role="it_manager"))),
        ("omar.ops", lambda uow, ctx: changes.decide_approval(uow, ctx, ref, ApprovalIn(role="operations_manager"))),
    ])
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Exception)]
    # Both read version N; the row lock lets one write, the other finds the version moved.
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert isinstance(lost[0], Conflict) and "modified by someone else" in lost[0].message
    with rt.uow(write=False) as uow:
        final = changes.get_change(uow, rt.context("chris.change"), ref)
        verdict = audit.verify(uow)
    assert final.state == "assessed" and len(final.approvals) == 1
    assert final.approvals[0].role == won[0].approvals[0].role
    assert verdict.ok, verdict.message
    # The loser retries and the change is authorized: nothing was lost.
    loser_role = "operations_manager" if final.approvals[0].role == "it_manager" else "it_manager"
    loser = "omar.ops" if loser_role == "operations_manager" else "ines.itmgr"
    with rt.uow() as uow:
        assert changes.decide_approval(uow, rt.context(loser), ref, ApprovalIn(role=loser_role)).state == "authorized"
    rt.close()


@pytest.mark.postgresql
def test_approval_racing_a_cancel(pg_url, clock):
    rt = make_runtime(pg_url, clock)
    ref = assessed_minor_change(rt)
    outcomes = race(pg_url, clock, [
        ("ines.itmgr", lambda uow, ctx: changes.decide_approval(uow, ctx, ref, ApprovalIn(role="it_manager"))),
        ("dana.dev", lambda uow, ctx: changes.transition(uow, ctx, ref, TransitionIn(action="cancel", reason="dup"))),
    ])
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    with rt.uow(write=False) as uow:
        final = changes.get_change(uow, rt.context("chris.change"), ref)
        history = [e.action for e in changes.history(uow, rt.context("chris.change"), ref)]
        verdict = audit.verify(uow)
    if final.state == "cancelled":
        assert final.approvals == [] and "approval.approved" not in history
    else:
        assert final.state == "assessed" and len(final.approvals) == 1 and "change.cancel" not in history
    assert verdict.ok
    rt.close()


def test_sqlite_serialises_writers(database_url, clock):
    """On SQLite, BEGIN IMMEDIATE queues writers: both approvals land, one after the other."""
    if not database_url.startswith("sqlite"):
        return  # PostgreSQL's behaviour is covered by the barrier tests above
    rt = make_runtime(database_url, clock)
    ref = assessed_minor_change(rt)
    results = []

    def approve(person, role):
        local = make_runtime(database_url, clock)
        try:
            with local.uow() as uow:
                results.append(changes.decide_approval(uow, local.context(person), ref, ApprovalIn(role=role)).state)
        finally:
            local.close()

    threads = [threading.Thread(target=approve, args=a) for a in
               [("ines.itmgr", "it_manager"), ("omar.ops", "operations_manager")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["assessed", "authorized"]
    with rt.uow(write=False) as uow:
        assert audit.verify(uow).ok
    rt.close()


def test_many_sqlite_writers_in_one_process_all_land(tmp_path, clock):
    """Sixteen threads filing changes at once on one SQLite file: every one lands, none sees
    'database is locked', and the audit chain stays one unbroken line."""
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    rt = make_runtime(url, clock)
    rt.upgrade_schema()
    body = ChangeCreate(title="Patch the historian", category="software_configuration", release_level="patch",
                        environment="uat", items=["historian"])
    barrier = threading.Barrier(16, timeout=10)
    errors: list[BaseException] = []

    def writer() -> None:
        barrier.wait()
        try:
            for _ in range(5):
                with rt.uow() as uow:
                    changes.create_change(uow, rt.context("dana.dev"), body)
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever a writer met
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with rt.uow(write=False) as uow:
        assert uow.changes.count() == 80
        verdict = audit.verify(uow)
    assert verdict.ok and verdict.checked == 80, verdict.message
    rt.close()


def test_a_writer_kept_out_by_another_process_gets_a_clear_busy_error(tmp_path, clock, monkeypatch):
    """Another process (here: a raw connection) holds SQLite's write lock past the busy timeout."""
    import sqlite3

    import changegate.db.engine as engine_module

    monkeypatch.setattr(engine_module, "WRITER_WAIT_SECONDS", 1)
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    rt = make_runtime(url, clock)
    rt.upgrade_schema()
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    body = ChangeCreate(title="Patch the historian", category="software_configuration", release_level="patch",
                        environment="uat", items=["historian"])
    try:
        with pytest.raises(Unavailable) as caught:
            with rt.uow() as uow:
                changes.create_change(uow, rt.context("dana.dev"), body)
        assert caught.value.message.startswith("the database is busy: another process held it")
    finally:
        other.execute("ROLLBACK")
        other.close()
    with rt.uow() as uow:  # nothing half-written, and the next writer goes through
        assert uow.changes.count() == 0
        changes.create_change(uow, rt.context("dana.dev"), body)
    with rt.uow(write=False) as uow:
        assert audit.verify(uow).checked == 1
    rt.close()
