"""Gate decisions are audited with group commit: the events of every request waiting at that moment go
onto the one chain in one transaction, each request answered only after it committed (issue 13)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event

from changegate.db.uow import group_commit
from changegate.services import audit, changes, gate
from changegate.services.tokens import create_token

WAITERS = 8


def test_decisions_waiting_together_are_appended_in_one_transaction_and_verify(runtime):
    with runtime.uow() as uow:
        secret = create_token(uow, runtime.context("chris.change"), "dana.dev", "ci").secret
        ref = changes.create_change(uow, runtime.context("dana.dev"), changes.ChangeCreate(
            title="Relabel", category="application", release_level="patch", environment="prod",
            items=["mes-labels"])).ref
    inserts: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "INSERT INTO audit_events" in statement:  # PostgreSQL: one statement, the events as arrays
            arrays = isinstance(parameters, dict) and isinstance(parameters.get("at"), list)
            inserts.append(len(parameters["at"]) if arrays else len(parameters) if executemany else 1)

    committer = group_commit(runtime.engine)
    answers: list = [None] * WAITERS

    def ask(i: int) -> None:
        answers[i] = gate.evaluate_for_token(runtime.uow, runtime.policy, secret, ref, "prod", None, runtime.clock())

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with committer._leader:  # a leader is busy: every decision made meanwhile queues behind it
            threads = [threading.Thread(target=ask, args=(i,)) for i in range(WAITERS)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(committer._queue) < WAITERS and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(committer._queue) == WAITERS
            assert all(a is None for a in answers)  # nobody is answered before their event is committed
        for t in threads:
            t.join(30)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert all(a is not None and a.allowed is False for a in answers)
    assert inserts == [WAITERS]  # one INSERT of all eight events: one transaction
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow)
        events = uow.audit.for_entity(f"change:{int(ref.removeprefix('CHG-'))}")
    assert verdict.ok, verdict.message
    assert [e.action for e in events].count("gate.evaluated") == WAITERS
