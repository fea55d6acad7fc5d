"""The API's read path (issue 13): one statement per change view, the token checked in it, nothing cached.

On SQLite and PostgreSQL: the one-statement view equals the ORM-loaded one exactly; a revocation made
through one app instance holds on the very next request to another on the same database; and one GET
issues the number of statements it was designed for, so a regression to per-collection loads fails.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event

from changegate.db.engine import make_engine
from changegate.schemas.schedule import FreezeIn
from changegate.services import changes, schedule
from changegate.services.demo import load_demo
from changegate.services.runtime import Runtime


def test_one_statement_view_is_exactly_the_orm_view(runtime):
    demo = load_demo(runtime)
    with runtime.uow() as uow:  # a freeze over every slot: scheduled changes get schedule problems
        now = runtime.clock()
        schedule.add_freeze(uow, runtime.context("chris.change"), FreezeIn(
            name="Audit freeze", start=now - timedelta(days=400), end=now + timedelta(days=400),
            reason="external audit"))
    secret = demo["tokens"]["chris.change"]
    seen = {"items": 0, "approvals": 0, "evidence": 0, "comments": 0, "schedule_problems": 0}
    for ref in demo["changes"]:
        ctx = runtime.context("chris.change")
        with runtime.uow(write=False) as uow:
            orm = changes.get_change(uow, ctx, ref)
        with runtime.uow(write=False) as uow:
            one = changes.read_change(uow, runtime.policy, secret, ref, ctx.now)
        assert one.model_dump_json() == orm.model_dump_json()
        for name in seen:
            seen[name] += bool(getattr(orm, name))
    assert all(seen.values()), f"the demo no longer covers every collection: {seen}"


def _serve(rt: Runtime):
    import uvicorn

    from changegate.api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return srv, thread, f"http://127.0.0.1:{port}/api/v1"


def test_revocation_holds_on_the_next_request_in_another_app_instance(runtime, server, tokens, clock):
    # A second app instance with its own engine (its own pool), as a second API process would have.
    other_rt = Runtime(runtime.settings, make_engine(runtime.settings.database_url), runtime.policy, clock)
    srv, thread, other = _serve(other_rt)
    try:
        with runtime.uow() as uow:
            ref = changes.create_change(uow, runtime.context("dana.dev"), changes.ChangeCreate(
                title="Relabel", category="application", release_level="patch", environment="prod",
                items=["mes-labels"])).ref
        dana = {"Authorization": f"Bearer {tokens['dana.dev']}"}
        chris = {"Authorization": f"Bearer {tokens['chris.change']}"}
        gate_body = {"environment": "prod"}
        assert httpx.get(f"{other}/changes/{ref}", headers=dana).status_code == 200
        assert httpx.post(f"{other}/changes/{ref}/gate", headers=dana, json=gate_body).status_code == 200
        listed = httpx.get(f"{server}/api/v1/tokens", headers=chris, params={"person": "dana.dev"}).json()
        revoked = httpx.delete(f"{server}/api/v1/tokens/{listed[0]['id']}", headers=chris)
        assert revoked.status_code == 200, revoked.text

        for url, method, kwargs in ((f"{other}/changes/{ref}", "GET", {}),
                                    (f"{other}/changes/{ref}/gate", "POST", {"json": gate_body}),
                                    (f"{server}/api/v1/changes/{ref}", "GET", {})):
            refused = httpx.request(method, url, headers=dana, **kwargs)
            assert refused.status_code == 401, (url, refused.text)
            assert "was revoked" in refused.json()["message"]
    finally:
        srv.should_exit = True
        thread.join(5)
        other_rt.close()


@pytest.fixture
def statements(runtime):
    """The SQL statements the runtime's engine sends, as they are sent."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    yield sent
    event.remove(runtime.engine, "before_cursor_execute", record)


def test_get_one_change_sends_one_statement(runtime, as_, statements):
    dana = as_("dana.dev")
    ref = dana.post("/changes", json={"title": "Relabel", "category": "application", "release_level": "patch",
                                      "environment": "prod", "items": ["mes-labels", "line-3"]}).json()["ref"]
    dana.post(f"/changes/{ref}/comments", json={"body": "looks fine"})
    statements.clear()
    got = dana.get(f"/changes/{ref}")
    assert got.status_code == 200 and got.json()["comments"][0]["body"] == "looks fine"
    # One SELECT reads the token, the change and all its collections, outside a transaction on both
    # engines: no BEGIN (SQLite's would be the engine's own, db/engine.py), no COMMIT.
    assert len(statements) == 1, statements


def test_a_gate_decision_sends_two_reads_and_one_append(runtime, as_, statements):
    dana = as_("dana.dev")
    ref = dana.post("/changes", json={"title": "Relabel", "category": "application", "release_level": "patch",
                                      "environment": "prod", "items": ["mes-labels"]}).json()["ref"]
    statements.clear()
    got = dana.post(f"/changes/{ref}/gate", json={"environment": "prod"})
    assert got.status_code == 200 and got.json()["allowed"] is False, got.text
    sent = [" ".join(s.split()) for s in statements if s.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE")]
    # The change view with the token, then every other fact in one SELECT; then the append. Nothing else: no
    # ORM loads, no lazy loads, no flush. SQLite appends in three statements (the head, the event, the head
    # again); PostgreSQL in one that locks the head, chains, inserts and moves it (db/repositories/audit.py).
    assert sent[0].startswith("SELECT api_tokens.id") and sent[1].startswith("SELECT (SELECT"), sent
    if runtime.engine.dialect.name == "postgresql":
        assert len(sent) == 3, sent
        assert sent[2].startswith("WITH RECURSIVE head AS") and "INSERT INTO audit_events" in sent[2], sent
    else:
        assert len(sent) == 5, sent
        assert sent[2].startswith("SELECT audit_head.last_seq") and sent[3].startswith("INSERT INTO audit_events")
        assert sent[4].startswith("UPDATE audit_head"), sent
    history = dana.get(f"/changes/{ref}/history").json()
    assert history[-1]["action"] == "gate.evaluated" and history[-1]["detail"]["row_version"] == 1


def test_the_gate_read_in_one_statement_equals_the_orm_reads(runtime):
    """Every fact the gate reads, from the one statement and from the repositories' ORM queries, over the
    demo (scheduled changes, refreshes) plus a freeze, an accepted conflict and SQL-check evidence."""
    from changegate.db.models import ConflictAcceptance
    from changegate.services.sqlcheck import CHECK_KINDS

    demo = load_demo(runtime)
    ids = [int(ref.removeprefix("CHG-")) for ref in demo["changes"]]
    now = runtime.clock()
    with runtime.uow(write=False) as uow:
        open_one = next(c for c in map(uow.changes.get, ids) if c.state in ("draft", "submitted", "assessed"))
        open_ref, requester = f"CHG-{open_one.id}", open_one.requester
    with runtime.uow() as uow:
        schedule.add_freeze(uow, runtime.context("chris.change"), FreezeIn(
            name="Audit freeze", start=now - timedelta(days=400), end=now + timedelta(days=400),
            reason="external audit", environments=["prod"]))
        uow.conflict_acceptances.add(ConflictAcceptance(change_id=ids[0], other_change_id=ids[1], reason="ok",
                                                        accepted_by="chris.change", accepted_at=now))
        for kind, content in (("sql_check", b'{"report": 1}'), ("sql_deploy", b"SELECT 1;"),
                              ("sql_deploy", b"SELECT 2;")):
            changes.attach_evidence(uow, runtime.context(requester), open_ref, filename=f"{kind}.txt",
                                    content=content, media_type="text/plain", kind=kind, max_bytes=1000)
    compared = {"freezes": 0, "holders": 0, "accepted": 0, "blobs": 0, "refreshed": 0}
    with runtime.uow(write=False) as uow:
        rows = [uow.changes.get(i) for i in ids]
        instants = [now] + [c.planned_start for c in rows if c.planned_start]
        for change in rows:
            for start in instants:
                end = start + timedelta(minutes=change.estimated_downtime_minutes or 0, seconds=60)
                one = uow.changes.gate_reads(change.id, change.environment, start, end, CHECK_KINDS)
                freezes = uow.freezes.active_overlapping(start, end)
                assert [vars(f) for f in one.freezes] == [
                    {c: getattr(f, c) for c in vars(one.freezes[0])} for f in freezes] if freezes else not one.freezes
                holders = uow.changes.scheduled_between(start - timedelta(days=3650), end,
                                                        environment=change.environment)
                assert [(h.id, h.planned_start, h.estimated_downtime_minutes, sorted(h.items))
                        for h in one.holders] == [(h.id, h.planned_start, h.estimated_downtime_minutes,
                                                   sorted(i.name for i in h.items)) for h in holders]
                assert one.accepted == uow.conflict_acceptances.accepted_with(change.id)
                latest = {k: uow.evidence.latest_of_kind(change.id, k) for k in CHECK_KINDS}
                assert one.blobs == {k: e and uow.evidence.content(e.id) for k, e in latest.items()}
                assert one.refreshed == {f.environment: f.data_refreshed_at
                                         for f in uow.session.query(type(uow.environment_facts.get("uat")))}
                compared["freezes"] += bool(one.freezes)
                compared["holders"] += bool(one.holders)
                compared["accepted"] += bool(one.accepted)
                compared["blobs"] += any(one.blobs.values())
                compared["refreshed"] += bool(one.refreshed)
    assert all(compared.values()), f"the data no longer covers every fact: {compared}"
