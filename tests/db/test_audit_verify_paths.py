"""How `audit verify` reads (issue 13, bench_audit): records from the driver's cursor, each snapshot text read
once. The verdicts are test_audit_reconcile.py's and test_audit_chain.py's; these pin the reading paths."""

from __future__ import annotations

from datetime import timezone

import pytest
from sqlalchemy import text

from changegate.db.models import Change
from changegate.services import audit
from changegate.services.demo import load_demo
from changegate.services.views import SNAPSHOT_COLUMNS


def test_the_cursor_read_records_are_the_core_read_records(runtime):
    load_demo(runtime)
    with runtime.engine.begin() as conn:  # an instant with microseconds, and one change without a start
        conn.execute(text("UPDATE changes SET planned_start = :at WHERE id = 2"), {"at": "2026-12-08 08:00:00.123456"}
                     if runtime.engine.dialect.name == "sqlite" else {"at": "2026-12-08T08:00:00.123456+00:00"})
        conn.execute(text("UPDATE changes SET planned_start = NULL WHERE id = 3"))
    known = [c for c in Change.__table__.c if c.name in SNAPSHOT_COLUMNS]
    with runtime.uow(write=False) as uow:
        raw = uow.audit.change_records(1, 50, SNAPSHOT_COLUMNS)  # through the driver's cursor
        core = uow.audit._change_records_core(1, 50, known)  # through SQLAlchemy, as before
    assert len(raw) == 13 and raw == core
    starts = [r.fields["planned_start"] for r in raw if r.fields["planned_start"] is not None]
    assert starts and all(s.tzinfo == timezone.utc for s in starts)
    assert any(s.microsecond == 123456 for s in starts)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_in_one_process_reads_each_snapshot_text_once(runtime):
    """The chain check reads every event; reconciliation reuses the newest snapshot texts it saw rather than
    reading them again (statements traced on SQLite's connection)."""
    load_demo(runtime)
    statements: list[str] = []
    with runtime.uow(write=False) as uow:
        uow.audit.s.connection().connection.dbapi_connection.set_trace_callback(statements.append)
        verdict = audit.verify(uow, processes=1)
    assert verdict.ok and verdict.reconciled == 13, verdict.message
    reads_of_events = [s for s in statements if "FROM audit_events" in s and "audit_head" not in s]
    assert len(reads_of_events) == 1, reads_of_events  # the chain, once: no second read of the snapshots


def test_a_record_compared_as_data_still_names_the_field_that_differs(runtime):
    """Reconciliation compares a record with its snapshot as data (not as re-serialised text): an untouched
    record agrees, a changed value is still named with its field."""
    load_demo(runtime)
    with runtime.uow(write=False) as uow:
        assert audit.verify(uow).ok
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE changes SET title = 'Edited behind the log' WHERE id = 1"))
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow)
    assert not verdict.ok and verdict.record == "CHG-1" and "title is 'Edited behind the log'" in verdict.message


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_instant_written_with_an_offset_behind_the_log_is_read_as_the_application_reads_it(runtime):
    """SQLite keeps instants as text: one written with an offset (08:00+05:00 = 03:00Z) must be compared as the
    application reads it (03:00Z), or the tampering matches its snapshot's 08:00Z by accident."""
    load_demo(runtime)
    with runtime.uow(write=False) as uow:
        planned = uow.changes.get(2).planned_start
    assert planned is not None
    shifted = planned.replace(tzinfo=None).isoformat(sep=" ") + "+05:00"  # same wall time, five hours earlier
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE changes SET planned_start = :at WHERE id = 2"), {"at": shifted})
    with runtime.uow(write=False) as uow:
        verdict = audit.verify(uow)
    assert not verdict.ok and verdict.record == "CHG-2" and "planned_start" in verdict.message, verdict.message
