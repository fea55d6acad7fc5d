"""The audit chain as stored: read back in order across read batches, on both engines."""

from __future__ import annotations

import pytest
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


@pytest.fixture
def in_stretches():
    """Verification cut into three stretches, two checked by processes of their own."""
    return lambda uow: audit.verify(uow, processes=3)


def test_a_chain_checked_in_parallel_stretches_verifies_whole(runtime, in_stretches):
    append_events(runtime, 30)
    with runtime.uow(write=False) as uow:
        verdict = in_stretches(uow)
        sequential = audit.verify(uow, processes=1)
    assert verdict.ok and verdict.checked == 30, verdict.message
    assert verdict == sequential


@pytest.mark.parametrize("seq", [5, 11, 30])  # in the first, second and last stretch
def test_parallel_stretches_name_the_altered_event_as_one_pass_would(runtime, in_stretches, seq):
    append_events(runtime, 30)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET detail = :d WHERE seq = :s"), {"d": '{"edited":1}', "s": seq})
    with runtime.uow(write=False) as uow:
        verdict = in_stretches(uow)
        sequential = audit.verify(uow, processes=1)
    assert (verdict.ok, verdict.first_broken_seq, verdict.checked) == (False, seq, seq - 1)
    assert verdict.message == sequential.message == f"event {seq} was altered: its content does not match its hash"


def test_parallel_stretches_notice_an_event_removed_at_a_stretch_boundary(runtime, in_stretches):
    append_events(runtime, 30)
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 10"))  # the last event of the first stretch
    with runtime.uow(write=False) as uow:
        verdict = in_stretches(uow)
    assert (verdict.ok, verdict.first_broken_seq, verdict.message) == (False, 10, "event 10 is missing")
