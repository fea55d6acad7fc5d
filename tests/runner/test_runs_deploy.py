"""Deployments against a real HTTP service, on SQLite and PostgreSQL: a good release commits, a broken one
rolls back and the old release answers again, a failed protection stops before any change, a failed
rollback ends failed."""

from __future__ import annotations

import pytest

from changegate.core.errors import Forbidden, InvalidInput, Refused
from changegate.schemas.changes import TransitionIn
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import changes, runs, runs_worker

from runner_support import scheduled_dev_change

ROLLBACK = "cp backup/* live/"


SMOKE = """checks:
  smoke:
    - name: health
      http: {{url: "{url}/health", expect_status: 200, body_contains: ok}}
"""


def plan_for(service, release: str, *, protect: str = "cp live/* backup/", checks: str | None = None,
             extra: str = "") -> str:
    root = service.root
    checks = SMOKE.format(url=service.url) if checks is None else checks
    return f"""
protect:
  - name: snapshot
    shell: "{protect}"
    cwd: {root}
steps:
  - name: install {release}
    run: [sh, -c, "cp releases/{release}/* live/"]
    cwd: {root}
    timeout: 30s
{checks}timing:
  check_after: 1s
rollback:
  cwd: {root}
{extra}
"""


def deploy(rt, ref, plan_text, person="rene.release", **extra):
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context(person), ref,
                              DeployIn(environment="dev", plan=PlanIn(filename="plan.yaml", text=plan_text), **extra),
                              worker=worker)
    events: list[str] = []
    state = runs.drive(rt, run.id, worker, on_event=events.append)
    with rt.uow(write=False) as uow:
        return runs.show_run(uow, rt.context("audrey.audit"), ref), events


def change_state(rt, ref) -> str:
    with rt.uow(write=False) as uow:
        return changes.get_change(uow, rt.context("audrey.audit"), ref).state


def test_a_good_release_commits_and_the_change_completes(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, events = deploy(rt, ref, plan_for(service, "v2"))
    assert run.state == "committed", run.outcome
    assert service.get("/version").text == "2.0.0"
    assert change_state(rt, ref) == "completed"
    assert [s.key for s in run.steps] == ["protect.0", "steps.0", "checks.smoke.health"]
    assert all(s.state == "succeeded" and s.attempt == 1 for s in run.steps)
    assert run.steps[1].exit_status == 0 and run.rollback_seconds is None and run.downtime_seconds is not None
    assert (service.root / "backup" / "version").read_text() == "1.0.0"  # the protection's snapshot
    assert "run deploying -> waiting" in events and events[-1] == "run checking -> committed: every check passed"


def test_a_release_that_breaks_health_rolls_back_and_the_old_release_answers_again(rt, service):
    service.release("v2", version="2.0.0", health="database unreachable")
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, _ = deploy(rt, ref, plan_for(service, "v2"))
    assert run.state == "rolled_back"
    assert service.get("/version").text == "1.0.0" and service.get("/health").status_code == 200
    assert change_state(rt, ref) == "rolled_back"
    smoke = next(s for s in run.steps if s.key == "checks.smoke.health")
    assert smoke.state == "failed" and "answered 500, expected 200" in smoke.detail["message"]
    assert [s.key for s in run.steps][-1] == "rollback.change_script"
    assert run.check_to_rollback_seconds is not None and run.check_to_rollback_seconds >= 0
    assert run.rollback_seconds is not None and run.rollback_over_limit is False
    with rt.uow(write=False) as uow:
        actions = [e.action for e in changes.history(uow, rt.context("audrey.audit"), ref)]
    assert actions[-3:] == ["run.step_succeeded", "run.rolled_back", "change.roll_back"]


def test_a_failing_protection_stops_before_any_change(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, _ = deploy(rt, ref, plan_for(service, "v2", protect="cp no-such-folder/* backup/"))
    assert run.state == "failed" and "nothing was changed" in run.outcome
    assert [s.key for s in run.steps] == ["protect.0"] and run.steps[0].exit_status != 0
    assert service.get("/version").text == "1.0.0"
    assert change_state(rt, ref) == "failed"
    assert run.downtime_seconds is None


def test_a_failing_rollback_ends_failed_never_rolled_back(rt, service):
    service.release("v2", version="2.0.0", health="broken")
    ref = scheduled_dev_change(rt, "cp no-such-backup/* live/")
    run, _ = deploy(rt, ref, plan_for(service, "v2"))
    assert run.state == "failed" and "NOT back on its known-good state" in run.outcome
    assert change_state(rt, ref) == "failed"
    assert next(s for s in run.steps if s.key == "rollback.change_script").state == "failed"


def test_deploy_asks_the_gate_and_a_plan_with_a_mistake_is_refused_with_its_line(rt, service):
    ref = scheduled_dev_change(rt, ROLLBACK)
    bad = plan_for(service, "v2").replace("    timeout: 30s", "    timeout: 30s\n    retries: 3")
    with pytest.raises(InvalidInput) as caught, rt.uow() as uow:
        runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev",
                                                                        plan=PlanIn(filename="plan.yaml", text=bad)))
    assert [r.message for r in caught.value.reasons] == ["plan.yaml:11: steps.0.retries: unknown field"]
    assert change_state(rt, ref) == "scheduled"
    with pytest.raises(Forbidden), rt.uow() as uow:  # dana (developer) may not implement: refused, audited
        runs.create_run(uow, rt.context("dana.dev"), ref, DeployIn(environment="dev"))


def test_a_blocked_gate_refuses_the_deployment_before_anything_runs(runtime, tmp_path):
    """On production the gate is enforced on start: deploy asks it first, as `change start` does."""
    from datetime import datetime, timezone

    from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate

    def run(person, fn, *args):
        with runtime.uow() as uow:
            return fn(uow, runtime.context(person), *args)

    planned = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
    ref = run("dana.dev", changes.create_change, ChangeCreate(
        title="Fix label rounding", category="application", release_level="patch", environment="prod",
        items=["mes-labels"], impact_analysis="line 3", implementation_plan="deploy", verification_plan="print",
        rollback_plan={"script": "undo"}, planned_start=planned, estimated_downtime=30, version="2.4.1")).ref
    with runtime.uow() as uow:
        changes.attach_evidence(uow, runtime.context("dana.dev"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    run("kim.keyuser", changes.sign_off_uat, ref)
    run("dana.dev", changes.transition, ref, TransitionIn(action="submit"))
    run("chris.change", changes.assess, ref, AssessIn())
    run("ines.itmgr", changes.decide_approval, ref, ApprovalIn(role="it_manager"))
    run("chris.change", changes.transition, ref, TransitionIn(action="schedule"))
    marker = tmp_path / "ran"
    plan = PlanIn(text=f"steps:\n  - name: touch\n    run: [touch, {marker}]\n")
    with pytest.raises(Refused) as caught:
        run("sam.sysadmin", runs.create_run, ref, DeployIn(environment="prod", plan=plan))
    assert "the Final Checkout gate for prod is BLOCKED" in caught.value.message
    assert not marker.exists()
    with runtime.uow(write=False) as uow:
        assert changes.get_change(uow, runtime.context("audrey.audit"), ref).state == "scheduled"
        last = changes.history(uow, runtime.context("audrey.audit"), ref)[-1]
    assert last.action == "change.start.refused"
