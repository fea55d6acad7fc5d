"""Appending to the audit chain: on PostgreSQL one statement locks the head, chains the hashes, inserts and moves
the head, so the head is held over one round trip and the commit (its appenders queue on it one at a time); the
hashes it computes are core/audit.py's, byte for byte. Both engines."""

from __future__ import annotations

import threading

from sqlalchemy import event

from changegate.core.audit import AuditRecord, event_hash, verify_chain

TEXTS = ["Grüße — ünïcode 𝄞 ✓", "tab\tnewline\nback\\slash \\N", "'quote' \"double\" %s %(x)s", ""]


def _append(runtime, n: int, tag: str = "t") -> None:
    with runtime.uow() as uow:
        for i in range(n):
            uow.audit.append(AuditRecord(actor=f"chris.change-{TEXTS[0]}", action="test.event", entity=f"{tag}:{i}",
                                         before={"was": TEXTS[i % len(TEXTS)]}, after={"i": i, "text": TEXTS},
                                         detail={"reason": TEXTS[(i + 1) % len(TEXTS)]}), runtime.clock())


def test_several_events_in_one_transaction_hash_as_the_core_does(runtime):
    _append(runtime, 5)
    _append(runtime, 1)
    with runtime.uow(write=False) as uow:
        chain = list(uow.audit.iter_chain())
        head = uow.audit.head()
    assert [row[0] for row in chain] == list(range(1, 7))
    for seq, at, actor, action, entity, before, after, detail, prev, digest in chain:
        assert digest == event_hash(prev, seq, at, actor, action, entity, before, after, detail)
    assert verify_chain(chain).ok and head == (6, chain[-1][-1])


def test_the_head_is_locked_moved_and_written_by_one_statement_on_postgresql(runtime):
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "audit_head" in statement or "audit_events" in statement:
            statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        _append(runtime, 3)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)
    if runtime.engine.dialect.name == "postgresql":
        assert len(statements) == 1, statements
        assert all(part in statements[0] for part in ("FOR UPDATE", "INSERT INTO audit_events", "UPDATE audit_head"))
    else:  # SQLite's single writer holds the file anyway: lock (read) the head, insert, move the head
        assert len(statements) == 3, statements


def test_appenders_in_many_threads_never_fork_the_chain(runtime):
    threads = [threading.Thread(target=_append, args=(runtime, 2, f"thread{t}")) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with runtime.uow(write=False) as uow:
        chain = list(uow.audit.iter_chain())
    assert [row[0] for row in chain] == list(range(1, 17)) and verify_chain(chain).ok


def test_a_transaction_with_many_events_appends_them_all_in_order(runtime):
    _append(runtime, 3)
    _append(runtime, 100)  # past the one statement's limit on PostgreSQL: the three statements
    _append(runtime, 2)
    with runtime.uow(write=False) as uow:
        chain = list(uow.audit.iter_chain())
    assert [row[0] for row in chain] == list(range(1, 106)) and verify_chain(chain).ok
