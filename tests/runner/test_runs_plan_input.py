"""Reading a plan: parsed once per deployment, and the rules that need the plan's shape as a whole."""

from __future__ import annotations

import pytest

from changegate.core.errors import InvalidInput
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import runs, runs_plan

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, plan_for


def test_create_run_parses_a_given_plan_once(rt, service, monkeypatch):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    parsed = []

    def counting(*args, **kwargs):
        parsed.append(args[1])
        return runs_plan.parse_plan(*args, **kwargs)

    monkeypatch.setattr(runs, "parse_plan", counting)
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(filename="p.yaml", text=plan_for(service, "v2"))))
    assert run.state == "queued" and parsed == ["p.yaml"]


def test_only_a_deployment_step_may_pause_on_its_timeout(rt, service):
    ref = scheduled_dev_change(rt, ROLLBACK)
    text = """protect:
  - name: stop the database
    manual: stop it
    role: system_administrator
    on_timeout: pause
steps:
  - {name: install, shell: "true", on_timeout: pause}
"""
    with pytest.raises(InvalidInput) as caught, rt.uow() as uow:
        runs.attach_plan(uow, rt.context("rene.release"), ref, PlanIn(filename="p.yaml", text=text))
    assert [r.message for r in caught.value.reasons] == [
        "p.yaml:7: steps.0: only a manual step has on_timeout (a command's timeout fails it)"]
    with pytest.raises(InvalidInput) as caught, rt.uow() as uow:
        runs.attach_plan(uow, rt.context("rene.release"), ref,
                         PlanIn(filename="p.yaml", text=text.replace(', on_timeout: pause}', '}')))
    assert [r.message for r in caught.value.reasons] == [
        "p.yaml:5: protect.0.on_timeout: only a step under steps: or waves: may pause on a timeout; here an "
        "unconfirmed step fails"]
