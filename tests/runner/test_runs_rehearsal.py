"""Rollback rehearsal (seed 000: "rollback tested before the window"): a production change's deployment is
rehearsed on UAT — deployed, rolled back at once, smoke-checked — and the result becomes the rollback_test
evidence the gate reads; the change itself is not started."""

from __future__ import annotations

from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import changes, gate, runs, runs_worker

from test_runs_promotion import open_rt, scheduled  # noqa: F401 - the fixture


def test_a_rehearsed_rollback_on_uat_becomes_the_changes_rollback_evidence(open_rt, service):
    rt = open_rt
    service.release("v2", version="2.0.0")
    ref = scheduled(rt, "prod")
    with rt.uow(write=False) as uow:
        before = gate.evaluate(uow, rt.context("sam.sysadmin"), ref, "prod")
    assert next(r for r in before.results if r.rule == "rollback").status == "fail"
    root = service.root
    text = f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {root}}}]
steps: [{{name: install v2, shell: "cp releases/v2/* live/", cwd: {root}}}]
checks:
  smoke: [{{name: version 1 answers, http: {{url: "{service.url}/version", body_contains: "1.0.0"}}}}]
rollback: {{cwd: {root}, steps: [{{name: restore, shell: "cp backup/* live/", cwd: {root}}}]}}
"""
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="uat", plan=PlanIn(text=text), rehearse_rollback=True),
                              worker=worker)
    assert run.rehearsal and run.environment == "uat"
    assert runs.drive(rt, run.id, worker) == "rolled_back"
    assert service.get("/version").text == "1.0.0"
    with rt.uow(write=False) as uow:
        change = changes.get_change(uow, rt.context("audrey.audit"), ref)
        after = gate.evaluate(uow, rt.context("sam.sysadmin"), ref, "prod")
        shown = runs.show_run(uow, rt.context("audrey.audit"), ref)
    assert change.state == "scheduled"  # rehearsing does not implement the change
    assert [e.kind for e in change.evidence] == ["test_log", "rollback_test"]
    assert next(r for r in after.results if r.rule == "rollback").status == "pass"
    assert [s.key for s in shown.steps] == ["protect.0", "steps.0", "rollback.change_script", "rollback.steps.0",
                                           "rehearsal.checks.smoke.version 1 answers"]
