"""Concurrent writers to one change end in one consistent state (real connections)."""

from __future__ import annotations

import threading

import pytest

from changegate.core.errors import ChangegateError, Conflict, Unavailable
from changegate.db.engine import make_engine
from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate, CommentIn, TransitionIn
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


PAIRS = {"approve/approve": 300, "approve/cancel": 200, "comment/comment": 500}  # 1,000 racing pairs
LANES = 4  # pairs race in four lanes at once (two threads each), to keep the test's time down


def setup_changes(rt: Runtime, count: int) -> list[str]:
    """``count`` assessed minor changes (two approvals each missing), filed in batches through the services."""
    body = ChangeCreate(
        title="Add OEE dashboard", category="application", release_level="minor", environment="prod",
        items=["mes-web"], impact_analysis="screens", implementation_plan="deploy", verification_plan="look",
        rollback_plan={"script": "undo"}, planned_start="2026-12-02T08:00:00Z", estimated_downtime=10,
    )
    dana, chris = rt.context("dana.dev"), rt.context("chris.change")
    refs: list[str] = []
    while len(refs) < count:
        with rt.uow() as uow:
            for _ in range(min(50, count - len(refs))):
                ref = changes.create_change(uow, dana, body).ref
                changes.attach_evidence(uow, dana, ref, filename="uat.log", content=b"ok", media_type="text/plain",
                                        max_bytes=1000)
                changes.transition(uow, dana, ref, TransitionIn(action="submit"))
                changes.assess(uow, chris, ref, AssessIn())
                refs.append(ref)
    return refs


def race_pairs(url, clock, pairs):
    """For every pair, two threads (each with its own engine) meet at a barrier, then run their job in a
    unit of work of their own. Pairs run in LANES lanes side by side. Returns each pair's two outcomes
    (a result or a ChangegateError)."""
    outcomes = [[None, None] for _ in pairs]

    def lane(first: int, barrier: threading.Barrier, side: int) -> None:
        rt = make_runtime(url, clock)
        try:
            for i in range(first, len(pairs), LANES):
                person, fn = pairs[i][side]
                barrier.wait()
                try:
                    with rt.uow() as uow:
                        outcomes[i][side] = fn(uow, rt.context(person))
                except ChangegateError as exc:
                    outcomes[i][side] = exc
        finally:
            rt.close()

    barriers = [threading.Barrier(2, timeout=60) for _ in range(LANES)]
    threads = [threading.Thread(target=lane, args=(n, barriers[n], side)) for n in range(LANES) for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return outcomes


def approve(ref, role):
    return lambda uow, ctx: changes.decide_approval(uow, ctx, ref, ApprovalIn(role=role))


def comment(ref, text):
    return lambda uow, ctx: changes.add_comment(uow, ctx, ref, CommentIn(body=text))


def cancel(ref):
    return lambda uow, ctx: changes.transition(uow, ctx, ref, TransitionIn(action="cancel", reason="duplicate"))


@pytest.mark.postgresql
def test_a_thousand_racing_pairs_on_postgresql_never_trip_over_each_other(pg_url, clock):
    """Writes that did not ask for a version never fail because of a concurrent write to the same change:
    the writer locks the change row (SELECT … FOR UPDATE) and the other waits, then sees its result."""
    rt = make_runtime(pg_url, clock)
    refs = setup_changes(rt, PAIRS["approve/approve"] + PAIRS["approve/cancel"])
    both, versus = refs[:PAIRS["approve/approve"]], refs[PAIRS["approve/approve"]:]
    talked = both[:10]  # comments race on a few changes, many times each
    pairs = (
        [(("ines.itmgr", approve(r, "it_manager")), ("omar.ops", approve(r, "operations_manager"))) for r in both]
        + [(("ines.itmgr", approve(r, "it_manager")), ("dana.dev", cancel(r))) for r in versus]
        + [(("dana.dev", comment(talked[i % 10], f"a{i}")), ("chris.change", comment(talked[i % 10], f"b{i}")))
           for i in range(PAIRS["comment/comment"])]
    )
    talk = range(PAIRS["comment/comment"])
    outcomes = race_pairs(pg_url, clock, pairs)

    conflicts = [o for pair in outcomes for o in pair if isinstance(o, Conflict)]
    assert conflicts == [], f"{len(conflicts)} unexpected 409s, e.g. {conflicts[0].message}"
    kinds = ["approve/approve"] * len(both) + ["approve/cancel"] * len(versus) + ["comment/comment"] * len(talk)
    for kind, (first, second) in zip(kinds, outcomes):
        if kind == "approve/cancel":
            # The approval loses to an earlier cancel with a refusal that says so; the cancel always lands.
            assert not isinstance(second, Exception), second
            assert not isinstance(first, Exception) or "cancelled" in first.message, first
        else:
            assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)

    inconsistent = []
    with rt.uow(write=False) as uow:
        chris = rt.context("chris.change")
        for ref in both + versus:
            change = changes.get_change(uow, chris, ref)
            events = [e.action for e in changes.history(uow, chris, ref)]
            approved = events.count("approval.approved")
            if ref in both:
                ok = (change.state == "authorized" and len(change.approvals) == 2 == approved
                      and events.count("change.authorize") == 1)
            else:
                cancelled_at = events.index("change.cancel") if "change.cancel" in events else -1
                ok = (change.state == "cancelled" and len(change.approvals) == approved <= 1
                      and "approval.approved" not in events[cancelled_at:])
            if not ok:
                inconsistent.append((ref, change.state, len(change.approvals), events))
        comments = sum(len(changes.get_change(uow, chris, r).comments) for r in talked)
        verdict = audit.verify(uow)
    assert inconsistent == [], f"{len(inconsistent)} inconsistent changes, e.g. {inconsistent[0]}"
    assert comments == 2 * PAIRS["comment/comment"]
    assert verdict.ok, verdict.message
    rt.close()


@pytest.mark.parametrize("stale", [True, False])
def test_a_stale_expected_version_still_gets_a_conflict(database_url, clock, stale):
    rt = make_runtime(database_url, clock)
    ref = assessed_minor_change(rt)
    with rt.uow(write=False) as uow:
        version = changes.get_change(uow, rt.context("chris.change"), ref).row_version
    with rt.uow() as uow:
        changes.decide_approval(uow, rt.context("ines.itmgr"), ref, ApprovalIn(role="it_manager"))
    body = ApprovalIn(role="operations_manager", expected_version=version if stale else version + 1)
    if stale:
        with pytest.raises(Conflict) as caught:
            with rt.uow() as uow:
                changes.decide_approval(uow, rt.context("omar.ops"), ref, body)
        assert "changed meanwhile" in caught.value.message
    else:
        with rt.uow() as uow:
            assert changes.decide_approval(uow, rt.context("omar.ops"), ref, body).state == "authorized"
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
