"""The audit chain as stored: read back in order across read batches, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from changegate.core.audit import AuditRecord, verify_chain
from changegate.db.models import AuditEvent
from changegate.services import audit


def append_events(runtime, n: int) -> None:
    with runtime.uow() as uow:
        for i in range(n):
            uow.audit.append(AuditRecord(actor="chris.change", action="test.event", entity=f"test:{i}",
                                         after={"i": i, "text": "Grüße — ünïcode",
                                                "raw": "tab\tnewline\nback\\slash \\N"}),
                          runtime.clock())


def test_the_chain_reads_back_whole_in_order_and_by_range(runtime):
    append_events(runtime, 7)
    with runtime.uow(write=False) as uow:
        whole = list(uow.audit.iter_chain())
        middle = list(uow.audit.iter_chain(3, 5, batch=2))  # keyset continuation on PostgreSQL
        tail = list(uow.audit.iter_chain(6))
        stored = [(e.seq, e.at, e.actor, e.action, e.entity, e.before, e.after, e.detail, e.prev_hash, e.hash)
                  for e in uow.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()]
    assert whole == stored  # every column exactly as stored, escapes and non-ASCII text included
    assert [row[0] for row in whole] == list(range(1, 8))
    assert middle == whole[2:5] and tail == whole[5:]
    assert verify_chain(whole).ok


def test_an_altered_prev_hash_column_is_reported_even_if_the_content_hash_still_matches(runtime):
    append_events(runtime, 4)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET prev_hash = :h WHERE seq = 3"), {"h": "f" * 64})
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow)
    assert (verdict.ok, verdict.first_broken_seq, verdict.checked) == (False, 3, 2)
    assert verdict.message == "event 3 does not link to event 2"


@pytest.fixture
def in_stretches():
    """Verification cut into three stretches, two checked by processes of their own."""
    return lambda uow: audit.verify(uow, processes=3)


def test_a_chain_checked_in_parallel_stretches_verifies_whole(runtime, in_stretches):
    append_events(runtime, 30)
    with runtime.uow(write=False) as uow:
        verdict = in_stretches(uow)
    with runtime.uow(write=False) as uow:
        sequential = audit.verify(uow, processes=1)
    assert verdict.ok and verdict.checked == 30, verdict.message
    assert verdict == sequential


TAMPERINGS = {
    "an altered event in the first stretch": ["UPDATE audit_events SET after = '{}' WHERE seq = 5"],
    "an altered event in the second stretch": ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 11"],
    "an altered newest event": ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 30"],
    "a relinked event": ["UPDATE audit_events SET prev_hash = hash WHERE seq = 21"],
    "the last event of a stretch removed": ["DELETE FROM audit_events WHERE seq = 10"],
    "the first event of a stretch removed": ["DELETE FROM audit_events WHERE seq = 11"],
    "a whole stretch removed": ["DELETE FROM audit_events WHERE seq BETWEEN 11 AND 20"],
    "the newest events removed": ["DELETE FROM audit_events WHERE seq >= 25"],
    "the newest events and the head rewound": ["DELETE FROM audit_events WHERE seq >= 25",
                                               "UPDATE audit_head SET last_seq = 24"],
    "every event removed": ["DELETE FROM audit_events"],
    "an event forged behind the head": ["INSERT INTO audit_events (seq, at, actor, action, entity, before, after, "
                                        "detail, prev_hash, hash) SELECT 31, at, actor, action, entity, before, "
                                        "after, detail, hash, hash FROM audit_events WHERE seq = 30"],
    "the head rewound": ["UPDATE audit_head SET last_seq = 29"],
    "the head moved ahead": ["UPDATE audit_head SET last_seq = 35"],
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_parallel_stretches_give_the_verdict_of_a_single_pass(runtime, in_stretches, tampering):
    append_events(runtime, 30)
    with runtime.engine.begin() as conn:
        for statement in TAMPERINGS[tampering]:
            conn.execute(text(statement))
    with runtime.uow(write=False) as uow:
        parallel = in_stretches(uow)
    with runtime.uow(write=False) as uow:
        single = audit.verify(uow, processes=1)
    assert not single.ok, single
    assert parallel == single


def test_a_verification_reads_one_snapshot_while_others_append(runtime):
    """Events appended while the chain is read belong to the next verification: on PostgreSQL the
    read moves to REPEATABLE READ, on SQLite its read transaction is one snapshot anyway."""
    append_events(runtime, 5)
    with runtime.uow(write=False) as uow:
        uow.read_snapshot()
        last_seq, _ = uow.audit.head()
        append_events(runtime, 3)  # another unit of work commits meanwhile
        seen = [row[0] for row in uow.audit.iter_chain()]
        assert uow.audit.head()[0] == last_seq == 5
    assert seen == [1, 2, 3, 4, 5]
    with runtime.uow(write=False) as uow:
        assert audit.verify(uow).checked == 8


def test_an_in_memory_database_is_verified_in_this_process(clock):
    """Another process would open a new, empty in-memory database: the stretches stay here."""
    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade
    from changegate.db.uow import UnitOfWork

    engine = make_engine("sqlite://")
    upgrade(engine)
    with UnitOfWork(engine, clock=clock) as uow:
        for i in range(5):
            uow.audit.append(AuditRecord(actor="chris.change", action="test.event", entity=f"test:{i}"), clock())
    with UnitOfWork(engine, write=False) as uow:
        assert uow.url_for_other_processes is None
        verdict = audit.verify(uow, processes=3)
    assert verdict.ok and verdict.checked == 5, verdict.message
    engine.dispose()
