"""Promotion by checksum (seed 004): production refuses a build whose checksum has no successful run on UAT,
audited; once the same build committed on UAT, production takes it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from changegate.core.errors import Refused
from changegate.db.engine import make_engine
from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate, TransitionIn
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import changes, runs, runs_worker
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

from runner_support import TEST_DEPLOY

SHA = "ab" * 32


@pytest.fixture
def open_rt(database_url, tmp_path):
    """The default policy without the schedule and start gate on uat and prod: this test is about promotion."""
    text = Path(DEFAULT_POLICY).read_text()
    text = text.replace("    dev: {enforce: false}          # the sandbox: any time",
                        "    dev: {enforce: false}\n    uat: {enforce: false}\n    prod: {enforce: false}")
    text = text.replace("enforce_on_start: {prod: true}", "enforce_on_start: {prod: false}")
    policy = tmp_path / "policy.yaml"
    policy.write_text(text + TEST_DEPLOY)
    rt = Runtime(Settings(database_url=database_url, policy=policy), make_engine(database_url), load_policy(policy))
    yield rt
    rt.close()


def scheduled(rt, environment: str) -> str:
    body = ChangeCreate(title="Ship 2.4.1", category="application", release_level="patch", environment=environment,
                        items=["mes"], impact_analysis="i", implementation_plan="p", verification_plan="v",
                        rollback_plan={"script": "true"}, estimated_downtime=5, version="2.4.1",
                        planned_start=datetime.now(timezone.utc) + timedelta(minutes=5))

    def as_(person, fn, *args):
        with rt.uow() as uow:
            return fn(uow, rt.context(person), *args)

    ref = as_("rene.release", changes.create_change, body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("rene.release"), ref, filename="t.log", content=b"ok",
                                media_type="text/plain", max_bytes=100)
    as_("kim.keyuser", changes.sign_off_uat, ref)
    as_("rene.release", changes.transition, ref, TransitionIn(action="submit"))
    as_("chris.change", changes.assess, ref, AssessIn())
    as_("ines.itmgr", changes.decide_approval, ref, ApprovalIn(role="it_manager"))
    as_("chris.change", changes.transition, ref, TransitionIn(action="schedule"))
    return ref


PLAN = PlanIn(text=f"artifact: {{name: mes-2.4.1.tar.gz, sha256: {SHA}}}\nsteps: [{{name: s, run: ['true']}}]\n"
                   "timing: {check_after: 0s}\n")


def test_production_takes_only_a_build_that_committed_on_uat(open_rt):
    rt = open_rt
    prod = scheduled(rt, "prod")
    with pytest.raises(Refused) as caught, rt.uow() as uow:
        runs.create_run(uow, rt.context("sam.sysadmin"), prod, DeployIn(environment="prod", plan=PLAN))
    assert caught.value.message == (f"cannot deploy {prod} to prod: build mes-2.4.1.tar.gz (sha256 "
                                    f"{SHA[:12]}…) has no successful run on uat")
    with rt.uow(write=False) as uow:
        assert changes.get_change(uow, rt.context("audrey.audit"), prod).state == "scheduled"  # the start undone
        assert changes.history(uow, rt.context("audrey.audit"), prod)[-1].action == "deploy.refused"

    uat = scheduled(rt, "uat")
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), uat, DeployIn(environment="uat", plan=PLAN),
                              worker=worker)
    assert runs.drive(rt, run.id, worker) == "committed"
    with rt.uow() as uow:
        queued = runs.create_run(uow, rt.context("sam.sysadmin"), prod, DeployIn(environment="prod", plan=PLAN))
    assert queued.state == "queued"
