"""The Final Checkout is the law on start: `change start` in an enforcing environment evaluates the gate,
refuses with every failing rule (audited), records the passing evaluation, and lets an emergency
override it only with a reason and the permission — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from changegate.core.errors import Forbidden, Refused
from changegate.schemas.changes import AssessIn, ApprovalIn, ChangeCreate, TransitionIn
from changegate.services import audit, changes, environments

PLANNED = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)  # Wednesday 09:00 Europe/Berlin, in a window


def run(rt, person, fn, *args):
    with rt.uow() as uow:
        return fn(uow, rt.context(person), *args)


def scheduled_change(rt, environment: str = "prod", **overrides) -> str:
    body = ChangeCreate(**{
        "title": "Fix label rounding", "category": "application", "release_level": "patch",
        "environment": environment, "items": ["mes-labels"], "impact_analysis": "line 3",
        "implementation_plan": "deploy", "verification_plan": "print", "rollback_plan": {"script": "undo"},
        "planned_start": PLANNED, "estimated_downtime": 30, "version": "2.4.1", **overrides})
    ref = run(rt, "dana.dev", changes.create_change, body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("dana.dev"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    run(rt, "kim.keyuser", changes.sign_off_uat, ref)
    run(rt, "dana.dev", changes.transition, ref, TransitionIn(action="submit"))
    run(rt, "chris.change", changes.assess, ref, AssessIn())
    run(rt, "ines.itmgr", changes.decide_approval, ref, ApprovalIn(role="it_manager"))
    run(rt, "chris.change", changes.transition, ref, TransitionIn(action="schedule"))
    return ref


def last_event(rt, ref):
    with rt.uow(write=False) as uow:
        return changes.history(uow, rt.context("audrey.audit"), ref)[-1]


def start(rt, person, ref, **extra):
    return run(rt, person, changes.transition, ref, TransitionIn(action="start", **extra))


def test_a_blocked_gate_refuses_the_start_with_every_failing_rule_and_audits_it(runtime, clock):
    ref = scheduled_change(runtime)
    with pytest.raises(Refused) as caught:  # a day early, no rollback rehearsal, no UAT refresh
        start(runtime, "ci-pipeline", ref)
    err = caught.value
    assert err.message == (f"cannot start {ref}: the Final Checkout gate for prod is BLOCKED "
                           "(failing: timing, rollback, uat_freshness)")
    assert [(r.code, r.message) for r in err.reasons] == [
        ("timing", f"now (2026-12-01 08:00 UTC) is before {ref}'s slot 2026-12-02 07:45–08:30 UTC "
                   "(planned start 08:00, 15m early at most)"),
        ("rollback", "a rollback plan exists but no test of it is recorded (attach a rollback_test or run the SQL "
                     "check)"),
        ("uat_freshness", "no data refresh of uat is recorded"),
    ]
    refused = last_event(runtime, ref)
    assert refused.action == "change.start.refused" and refused.actor == "ci-pipeline"
    assert [r["code"] for r in refused.detail["reasons"]] == ["timing", "rollback", "uat_freshness"]
    assert refused.detail["gate"]["allowed"] is False
    with runtime.uow(write=False) as uow:
        assert changes.get_change(uow, runtime.context("chris.change"), ref).state == "scheduled"

    # Put right what failed, inside the slot: the start goes through and records the evaluation.
    run(runtime, "sam.sysadmin", environments.record_refresh, "uat", datetime(2026, 11, 20, tzinfo=timezone.utc))
    with runtime.uow() as uow:
        changes.attach_evidence(uow, runtime.context("dana.dev"), ref, filename="rehearsal.log", content=b"ok",
                                media_type="text/plain", kind="rollback_test", max_bytes=1000)
    clock.now = PLANNED.replace(minute=5)
    assert start(runtime, "ci-pipeline", ref).state == "implementing"
    started = last_event(runtime, ref)
    assert started.action == "change.start"
    gate = started.detail["gate"]
    assert gate["allowed"] is True and gate["at"] == "2026-12-02T08:05:00+00:00"
    assert {r["rule"] for r in gate["results"]} >= {"authorized", "timing", "evidence", "rollback", "uat_freshness"}
    with runtime.uow(write=False) as uow:
        assert audit.verify(uow).ok


def test_an_emergency_overrides_a_blocked_gate_only_with_a_reason_and_the_permission(runtime):
    body = ChangeCreate(type="emergency", title="Scanner down", category="software_configuration",
                        release_level="patch", environment="prod", items=["scanner"], impact_analysis="line 2",
                        implementation_plan="restart", rollback_plan={"script": "restart"},
                        planned_start=PLANNED, estimated_downtime=5)
    ref = run(runtime, "sam.sysadmin", changes.create_change, body).ref
    run(runtime, "sam.sysadmin", changes.transition, ref, TransitionIn(action="submit"))
    with pytest.raises(Refused) as caught:
        start(runtime, "sam.sysadmin", ref)
    assert caught.value.reasons[-1].code == "override_needed"
    assert {r.code for r in caught.value.reasons} >= {"timing", "evidence", "rollback", "versioning"}
    with pytest.raises(Refused) as caught:  # the pipeline may deploy, but not override the gate
        start(runtime, "ci-pipeline", ref, override_reason="line 2 is down")
    assert caught.value.reasons[-1].code == "permission_denied"
    assert "may not gate.override" in caught.value.reasons[-1].message

    started = start(runtime, "sam.sysadmin", ref, override_reason="line 2 is down")
    assert started.state == "implementing"
    event = last_event(runtime, ref)
    override = event.detail["gate_override"]
    assert override["reason"] == "line 2 is down" and override["roles"] == ["system_administrator"]
    assert {r["rule"] for r in override["overridden"]} >= {"timing", "evidence", "rollback"}
    assert event.detail["gate"]["allowed"] is False


def test_only_an_emergency_may_override(runtime):
    ref = scheduled_change(runtime)
    with pytest.raises(Refused) as caught:
        start(runtime, "sam.sysadmin", ref, override_reason="trust me")
    assert caught.value.reasons[-1].code == "override_not_allowed"


def test_an_environment_without_enforcement_starts_as_before(runtime):
    ref = scheduled_change(runtime, environment="uat")  # the gate would block: a day early
    assert start(runtime, "sam.sysadmin", ref).state == "implementing"
    assert "gate" not in (last_event(runtime, ref).detail or {})


def test_an_illegal_start_says_so_before_the_gate_speaks(runtime):
    body = ChangeCreate(title="x", category="application", release_level="patch", environment="prod")
    ref = run(runtime, "dana.dev", changes.create_change, body).ref
    with pytest.raises(Refused) as caught:
        start(runtime, "sam.sysadmin", ref)
    assert [r.code for r in caught.value.reasons] == ["illegal_transition"]


def test_separation_of_duties_refuses_assessing_ones_own_production_change(runtime):
    body = ChangeCreate(title="Own change", category="application", release_level="patch", environment="prod",
                        items=["mes"], impact_analysis="i", implementation_plan="p", verification_plan="v",
                        rollback_plan={"script": "u"}, planned_start=PLANNED, estimated_downtime=5)
    ref = run(runtime, "chris.change", changes.create_change, body).ref
    with runtime.uow() as uow:
        changes.attach_evidence(uow, runtime.context("chris.change"), ref, filename="t.log", content=b"ok",
                                media_type="text/plain", max_bytes=100)
    run(runtime, "chris.change", changes.transition, ref, TransitionIn(action="submit"))
    with pytest.raises(Forbidden) as caught:
        run(runtime, "chris.change", changes.assess, ref, AssessIn())
    assert caught.value.message == (f"chris.change requested {ref} and may not also assess it "
                                    "(separation of duties on prod)")
    assert [r.code for r in caught.value.reasons] == ["separation_of_duties"]
    refused = last_event(runtime, ref)
    assert refused.action == "change.assess.refused" and refused.actor == "chris.change"
    assert run(runtime, "cab.carla", changes.assess, ref, AssessIn()).state == "assessed"
