"""A run's end does not depend on the person who started it: the deployer may have left the policy file
meanwhile (a long monitoring, a run taken over days later). The change follows the run in the runner's name,
and the audit event names the original deployer. On SQLite and PostgreSQL."""

from __future__ import annotations

from changegate.db.engine import make_engine
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import changes, runs, runs_worker
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import Settings

from runner_support import scheduled_dev_change
from test_runs_deploy import change_state


def test_a_run_whose_deployer_left_the_policy_file_still_moves_its_change(rt, database_url, policy_file, tmp_path):
    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev", plan=PlanIn(
            text=f"steps: [{{name: touch, shell: 'touch {tmp_path}/done'}}]\n")))
    text = policy_file.read_text()
    line = next(x for x in text.splitlines() if "id: rene.release" in x)
    without = tmp_path / "policy-without-rene.yaml"
    without.write_text(text.replace(line + "\n", ""))
    later = Runtime(Settings(database_url=database_url, policy=without), make_engine(database_url),
                    load_policy(without))
    try:
        assert later.policy.person("rene.release") is None
        assert runs_worker.claim(later, "w", run.id) == run.id
        assert runs.drive(later, run.id, "w").value == "committed"
    finally:
        later.close()
    assert (tmp_path / "done").exists() and change_state(rt, ref) == "completed"
    with rt.uow(write=False) as uow:
        complete = next(e for e in changes.history(uow, rt.context("audrey.audit"), ref)
                        if e.action == "change.complete")
    assert complete.actor == "changegate.runner"
    assert complete.detail["deployed_by"] == "rene.release" and complete.detail["run"] == run.id
