"""What people do in a run: confirm a manual step (only a holder of its role), pause on a failed check and
roll back on a person's decision (audited, skipping analysis)."""

from __future__ import annotations

import threading
import time

import pytest

from changegate.core.errors import Forbidden, Refused
from changegate.schemas.runs import CommitIn, ConfirmIn, DeployIn, PlanIn, RollbackIn
from changegate.services import changes, runs, runs_worker

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, change_state


def _start(rt, ref, text):
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text=text)), worker=worker)
    result = {}
    thread = threading.Thread(target=lambda: result.update(state=runs.drive(rt, run.id, worker)))
    thread.start()
    return thread, result


def _wait_until(rt, ref, predicate):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with rt.uow(write=False) as uow:
            run = runs.show_run(uow, rt.context("audrey.audit"), ref)
        if predicate(run):
            return run
        time.sleep(0.05)
    raise AssertionError("the run never got there")


def test_a_manual_step_waits_for_a_holder_of_its_role_and_refuses_anybody_else(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    text = f"""
steps:
  - name: stop the line
    manual: The system administrator stops the label printers on line 3.
    role: system_administrator
    timeout: 2m
  - {{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}
timing: {{check_after: 1s}}
"""
    thread, result = _start(rt, ref, text)
    _wait_until(rt, ref, lambda r: any(s.state == "waiting" for s in r.steps))
    with pytest.raises(Forbidden) as caught, rt.uow() as uow:
        runs.confirm_step(uow, rt.context("rene.release"), ref, ConfirmIn(step="stop the line"))
    assert caught.value.message == (f"only a system_administrator may confirm 'stop the line' of {ref} "
                                    "(holders: sam.sysadmin)")
    assert service.get("/version").text == "1.0.0"  # still waiting: nothing ran past the manual step
    with rt.uow() as uow:
        runs.confirm_step(uow, rt.context("sam.sysadmin"), ref, ConfirmIn(step="stop the line", note="stopped"))
    thread.join(60)
    assert result["state"] == "committed"
    assert service.get("/version").text == "2.0.0"
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    assert run.steps[0].detail["confirmed_by"] == "sam.sysadmin"
    refused = next(e for e in history if e.action == "run.step_confirm.refused")
    confirmed = next(e for e in history if e.action == "run.step_confirmed")
    assert refused.actor == "rene.release" and confirmed.actor == "sam.sysadmin"


def test_a_failed_check_pauses_when_the_plan_says_so_and_a_person_rolls_back(rt, service):
    service.release("v2", version="2.0.0", health="degraded")
    ref = scheduled_dev_change(rt, ROLLBACK)
    text = f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {service.root}}}]
steps: [{{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}]
checks:
  smoke: [{{name: health, http: {{url: "{service.url}/health"}}}}]
timing: {{check_after: 1s, on_failure: pause}}
rollback: {{cwd: {service.root}}}
"""
    thread, result = _start(rt, ref, text)
    thread.join(60)
    assert result["state"] == "paused"
    assert change_state(rt, ref) == "implementing" and service.get("/health").status_code == 500
    with rt.uow() as uow:
        out = runs.request_rollback(uow, rt.context("sam.sysadmin"), ref, RollbackIn(reason="line 3 stopped"))
    assert out.state == "rolling_back" and out.lease_owner is None
    worker = runs_worker.worker_id()
    assert runs_worker.lease_to(rt, out.id, worker)
    assert runs.drive(rt, out.id, worker) == "rolled_back"
    assert service.get("/version").text == "1.0.0"
    assert change_state(rt, ref) == "rolled_back"
    with rt.uow(write=False) as uow:
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    requested = next(e for e in history if e.action == "run.rollback_requested")
    assert requested.actor == "sam.sysadmin" and requested.detail["reason"] == "line 3 stopped"


def test_a_persons_rollback_during_the_checks_wins_over_their_outcome(rt, service, policy_file, database_url):
    """The smoke check itself asks for the rollback (as a person would while it runs): the check then passes,
    and the run still rolls back."""
    import json
    import os
    import shlex
    import sys

    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    env = {"CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
           "CHANGEGATE_USER": "sam.sysadmin", "PATH": os.environ["PATH"]}
    ask = shlex.join([sys.executable, "-m", "changegate.cli.main", "rollback", ref, "--reason", "line 3 jams"])
    text = f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {service.root}}}]
steps: [{{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}]
checks:
  smoke:
    - name: a person decides
      shell: {json.dumps(ask)}
      env: {json.dumps(env)}
timing: {{check_after: 0s}}
rollback: {{cwd: {service.root}}}
"""
    thread, result = _start(rt, ref, text)
    thread.join(120)
    assert result["state"] == "rolled_back"
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
    assert next(s for s in run.steps if s.key == "checks.smoke.a person decides").state == "succeeded"
    assert run.outcome == "rolled back on sam.sysadmin's decision: line 3 jams"
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "rolled_back"


def _manual_plan(service, on_timeout: str = "") -> str:
    return f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {service.root}}}]
steps:
  - {{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}
  - name: restart the printers
    manual: The system administrator restarts the label printers on line 3.
    role: system_administrator
    timeout: 1s
    {on_timeout}
checks:
  smoke: [{{name: health, http: {{url: "{service.url}/health"}}}}]
timing: {{check_after: 0s}}
rollback: {{cwd: {service.root}}}
"""


def test_a_manual_step_nobody_confirms_in_time_fails_and_the_run_rolls_back(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    thread, result = _start(rt, ref, _manual_plan(service))
    thread.join(60)
    assert result["state"] == "rolled_back"
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
    step = next(s for s in run.steps if s.key == "steps.1")
    assert step.state == "failed" and step.detail["message"] == "not confirmed within 1 s"
    assert "deadline" in step.detail  # stored with the step: a worker taking the run over keeps it
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "rolled_back"


def test_a_manual_step_that_pauses_on_its_timeout_carries_on_when_confirmed_late(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    thread, result = _start(rt, ref, _manual_plan(service, "on_timeout: pause"))
    thread.join(60)
    assert result["state"] == "paused" and change_state(rt, ref) == "implementing"
    with pytest.raises(Forbidden), rt.uow() as uow:
        runs.confirm_step(uow, rt.context("rene.release"), ref, ConfirmIn(step="restart the printers"))
    with rt.uow() as uow:
        out = runs.confirm_step(uow, rt.context("sam.sysadmin"), ref,
                                ConfirmIn(step="restart the printers", note="late, but done"))
    assert out.state == "deploying" and out.lease_owner is None  # resumed: a worker carries it on
    worker = runs_worker.worker_id()
    assert runs_worker.lease_to(rt, out.id, worker)
    assert runs.drive(rt, out.id, worker) == "committed"
    assert service.get("/version").text == "2.0.0" and change_state(rt, ref) == "completed"
    with rt.uow(write=False) as uow:
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    paused = next(e for e in history if e.action == "run.paused")
    assert paused.detail["event"] == "timed_out_pause"
    resumed = [e for e in history if e.action == "run.deploying"][-1]
    assert resumed.actor == "sam.sysadmin" and resumed.detail["event"] == "resumed"


def test_rolling_back_a_run_paused_at_a_manual_step_closes_the_step(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    thread, result = _start(rt, ref, _manual_plan(service, "on_timeout: pause"))
    thread.join(60)
    assert result["state"] == "paused"
    with rt.uow() as uow:
        out = runs.request_rollback(uow, rt.context("sam.sysadmin"), ref, RollbackIn(reason="printers stay off"))
    worker = runs_worker.worker_id()
    assert runs_worker.lease_to(rt, out.id, worker) and runs.drive(rt, out.id, worker) == "rolled_back"
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    step = next(s for s in run.steps if s.key == "steps.1")
    assert step.state == "failed" and step.detail["message"] == "no longer awaited: sam.sysadmin rolled the run back"
    assert next(e for e in history if e.action == "run.rollback_requested").detail["closed"] == ["steps.1"]
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "rolled_back"


def test_a_run_paused_before_its_deployment_finished_cannot_be_committed(rt, service):
    """Even when no step waits any more (a confirmation raced the timeout), the steps after it never ran."""
    from sqlalchemy import text

    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    thread, result = _start(rt, ref, _manual_plan(service, "on_timeout: pause"))
    thread.join(60)
    assert result["state"] == "paused"
    with rt.engine.begin() as conn:  # the race's outcome: the manual step closed, the run still paused
        closed = conn.execute(text("UPDATE run_steps SET state = 'succeeded' WHERE state = 'waiting'")).rowcount
    assert closed == 1
    with pytest.raises(Refused, match="did not finish"), rt.uow() as uow:
        runs.commit_run(uow, rt.context("sam.sysadmin"), ref, CommitIn(reason="looks fine"))
    assert change_state(rt, ref) == "implementing"
