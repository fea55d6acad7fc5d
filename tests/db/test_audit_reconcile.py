"""`audit verify` proves the records, not only the log: a record altered with plain SQL (the chain
untouched) is named, on both engines, whether the chain is checked in one process or in stretches."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from changegate.services import audit
from changegate.services.demo import load_demo


@pytest.fixture
def demo(runtime):
    load_demo(runtime)
    return runtime


def verify(rt, **kw):
    with rt.uow(write=False) as uow:
        return audit.verify(uow, **kw)


def tamper(rt, sql: str, **params) -> None:
    with rt.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_the_untouched_demo_reconciles(demo):
    verdict = verify(demo)
    assert verdict.ok, verdict.message
    assert verdict.reconciled == 13 and verdict.record is None


EVIDENCE_1 = "(SELECT min(id) FROM evidence WHERE change_id = 1)"
APPROVAL_1 = "(SELECT min(id) FROM approvals WHERE change_id = 1)"
# Each: statements, the record named, and the sentence naming what differs (a regular expression).
TAMPERINGS = {
    "state": (["UPDATE changes SET state = 'authorized' WHERE id = 1"], "CHG-1",
              r"CHG-1: state is 'authorized' but its last event \(seq \d+, change\.complete\) says 'completed'"),
    "approval deleted": ([f"DELETE FROM approvals WHERE id = {APPROVAL_1}"], "CHG-1",
                         r"CHG-1: the approval as it_manager \(approved by ines\.itmgr; seq \d+, approval\.approved\) "
                         r"is missing from the record"),
    "approval inserted": (["INSERT INTO approvals (change_id, role, approver, decision, reason, retroactive, "
                           "created_at) SELECT 1, 'cio', 'clara.cio', 'approved', '', retroactive, created_at "
                           f"FROM approvals WHERE id = {APPROVAL_1}"], "CHG-1",
                          r"CHG-1: the approval as cio \(approved by clara\.cio\) has no event"),
    "approval changed": ([f"UPDATE approvals SET decision = 'rejected' WHERE id = {APPROVAL_1}"], "CHG-1",
                         r"CHG-1: the approval as it_manager is rejected by ines\.itmgr but its event "
                         r"\(seq \d+, approval\.approved\) says approved by ines\.itmgr"),
    "approver changed": ([f"UPDATE approvals SET approver = 'mallory' WHERE id = {APPROVAL_1}"], "CHG-1",
                         r"CHG-1: the approval as it_manager is approved by mallory but its event"),
    "evidence content": ([f"UPDATE evidence_blobs SET content = :forged WHERE evidence_id = {EVIDENCE_1}"], "CHG-1",
                         r"CHG-1: evidence \d+'s content hashes to [0-9a-f]{64} but its event "
                         r"\(seq \d+, evidence\.attached\) says [0-9a-f]{64}"),
    "evidence hash": ([f"UPDATE evidence SET sha256 = '{'0' * 64}' WHERE id = {EVIDENCE_1}"], "CHG-1",
                      r"CHG-1: evidence \d+'s sha256 is 0{64} but its event"),
    "evidence deleted": ([f"DELETE FROM evidence WHERE id = {EVIDENCE_1}"], "CHG-1",
                         r"CHG-1: evidence \d+ \(seq \d+, evidence\.attached\) is missing from the record"),
    "planned_start": (["UPDATE changes SET planned_start = planned_start + INTERVAL '1 day' WHERE id = 2"], "CHG-2",
                      r"CHG-2: planned_start is '.+' but its last event \(seq \d+, change\.schedule\) says '.+'"),
    "item added": (["INSERT INTO change_items (change_id, name, position) VALUES (1, 'plc-7', 9)"], "CHG-1",
                   r"CHG-1: items are \['mes-labels', 'line-3', 'plc-7'\] but its last event"),
    "title": (["UPDATE changes SET title = 'something else' WHERE id = 5"], "CHG-5",
              r"CHG-5: title is 'something else' but its last event \(seq \d+, change\.created\)"),
    "row_version": (["UPDATE changes SET row_version = row_version + 1 WHERE id = 1"], "CHG-1",
                    r"CHG-1: row_version is \d+ but its events say \d+"),
    "record deleted": (["DELETE FROM changes WHERE id = 4"], "CHG-4",
                       r"CHG-4 is missing: its events \(the last is seq \d+, change\.\w+\) describe it, "
                       r"but no record exists"),
    "record inserted": (["INSERT INTO changes (id, title, description, type, category, release_level, risk, "
                         "environment, state, requester, impact_analysis, implementation_plan, verification_plan, "
                         "readiness_analysis, risk_analysis, emergency_plan, rollback_script, rollback_interpreter, "
                         "uat_signoff_note, created_at, updated_at, row_version) SELECT 99, title, description, "
                         "type, category, release_level, risk, environment, 'authorized', requester, "
                         "impact_analysis, implementation_plan, verification_plan, readiness_analysis, "
                         "risk_analysis, emergency_plan, rollback_script, rollback_interpreter, uat_signoff_note, "
                         "created_at, updated_at, 1 FROM changes WHERE id = 1"], "CHG-99",
                        r"CHG-99 has no event: the record was not written through changegate"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_record_altered_with_plain_sql_is_named(demo, tampering):
    statements, ref, sentence = TAMPERINGS[tampering]
    assert verify(demo).ok
    for sql in statements:
        if "INTERVAL" in sql and demo.engine.dialect.name == "sqlite":
            sql = ("UPDATE changes SET planned_start = strftime('%Y-%m-%d %H:%M:%f000', planned_start, '+1 day') "
                   "WHERE id = 2")
        tamper(demo, sql, **({"forged": b"42 passed, 0 failed (forged)\n"} if ":forged" in sql else {}))
    verdict = verify(demo)
    assert not verdict.ok
    assert verdict.record == ref
    assert re.match(sentence, verdict.message), verdict.message
    assert verdict.checked == verdict.head[0]  # the chain itself is intact


def test_stretches_checked_in_parallel_give_the_same_verdict(demo):
    tamper(demo, TAMPERINGS["state"][0][0])
    single = verify(demo, processes=1)
    assert not single.ok and single.record == "CHG-1"
    assert verify(demo, processes=3) == single


@pytest.mark.parametrize("processes", [1, 3])
def test_the_trails_folded_during_the_chain_check_are_the_ones_a_second_pass_folds(demo, processes):
    # verify() folds each change's trail while it checks the chain (each process its stretch, merged in
    # chain order); reconcile() on its own reads the change events again. Both must see the same trails,
    # or one path would hide a tampering.
    from changegate.core.reconcile import TrailFold, fold_trails

    with demo.uow(write=False) as uow:
        uow.read_snapshot()
        fold = TrailFold()
        assert audit.verify_chain_only(uow, uow.audit.head(), processes=processes, fold=fold).ok
        streamed = fold_trails(uow.audit.iter_change_trails())
    assert fold.complete and len(fold.folded) == 13
    assert fold.folded == streamed
    # The demo holds the kinds of events that make a trail: snapshots, comments, approvals, evidence.
    assert any(t.approvals for t in streamed.values()) and any(t.evidence for t in streamed.values())
