"""The audit chain as stored: read back in order across read batches, on both engines."""

from __future__ import annotations

from sqlalchemy import text

from changegate.core.audit import AuditRecord, verify_chain
from changegate.services import audit


def append_events(runtime, n: int) -> None:
    with runtime.uow() as uow:
        for i in range(n):
            uow.audit.append(AuditRecord(actor="chris.change", action="test.event", entity=f"test:{i}",
                                         after={"i": i, "text": "Grüße — ünïcode"}), runtime.clock())


def test_the_chain_reads_back_whole_and_in_order_across_batches(runtime):
    append_events(runtime, 7)
    with runtime.uow(write=False) as uow:
        whole = list(uow.audit.iter_chain())
        in_twos = list(uow.audit.iter_chain(batch=2))  # batches of 2: keyset continuation on PostgreSQL
    assert [row[0] for row in whole] == list(range(1, 8))
    assert in_twos == whole
    assert verify_chain(in_twos).ok


def test_an_altered_prev_hash_column_is_reported_even_if_the_content_hash_still_matches(runtime):
    append_events(runtime, 4)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET prev_hash = :h WHERE seq = 3"), {"h": "f" * 64})
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow)
    assert (verdict.ok, verdict.first_broken_seq, verdict.checked) == (False, 3, 2)
    assert verdict.message == "event 3 does not link to event 2"
