"""Fixtures of the job engine's tests: a runtime on the real clock with a short lease, changes ready to
deploy, and changegate's own processes (serve, worker) started as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from changegate.db.engine import make_engine
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

# A short lease: a killed worker's run is taken over within seconds. No wait for T+N.
JOBS_DEPLOY = "\ndeploy:\n  lease: 3s\n  check_after: 0s\n"


@pytest.fixture
def policy_file(tmp_path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(Path(DEFAULT_POLICY).read_text() + JOBS_DEPLOY)
    return path


@pytest.fixture
def rt(database_url, policy_file):
    runtime = Runtime(Settings(database_url=database_url, policy=policy_file), make_engine(database_url),
                      load_policy(policy_file))
    yield runtime
    from changegate import jobs

    jobs.engine_for(runtime).close()
    runtime.close()


@pytest.fixture
def cli_env(database_url, policy_file) -> dict:
    return {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
            "CHANGEGATE_USER": "rene.release"}


@pytest.fixture
def processes():
    """Start changegate commands as subprocesses; whatever is still running at the end is killed."""
    started: list[subprocess.Popen] = []

    def start(env: dict, *args: str, log: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "changegate.cli.main", *args], env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def wait_until(predicate, what: str, timeout: float = 90.0, proc: subprocess.Popen | None = None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: "
                                 f"{log.read_text() if log else ''}")
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting: {what}" + (f"\n{log.read_text()}" if log else ""))


def ready_change(rt: Runtime, rollback: str = "true") -> str:
    """A change to dev (no approval, no schedule enforced), scheduled and ready to deploy; an item of its own,
    so that changes do not conflict."""
    from changegate.schemas.changes import AssessIn, ChangeCreate, TransitionIn
    from changegate.services import changes

    body = ChangeCreate(title="Ship it", category="application", release_level="patch", environment="dev",
                        items=[f"app-{uuid.uuid4().hex[:8]}"], impact_analysis="line 3", implementation_plan="deploy",
                        verification_plan="smoke", rollback_plan={"script": rollback}, estimated_downtime=1,
                        version="2.0.0", planned_start=datetime.now(timezone.utc) + timedelta(minutes=5))
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context("rene.release"), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("rene.release"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    for person, fn, arg in (("rene.release", changes.transition, TransitionIn(action="submit")),
                            ("chris.change", changes.assess, AssessIn()),
                            ("chris.change", changes.transition, TransitionIn(action="schedule"))):
        with rt.uow() as uow:
            fn(uow, rt.context(person), ref, arg)
    return ref


def queue_run(rt: Runtime, plan: str, rollback: str = "true") -> tuple[str, int]:
    """Queue a run of ``plan`` for a new change, as the API does (no worker holds it)."""
    from changegate.schemas.runs import DeployIn, PlanIn
    from changegate.services import runs

    ref = ready_change(rt, rollback)
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev", plan=PlanIn(text=plan)))
    return ref, run.id


def run_of(rt: Runtime, ref: str):
    from changegate.services import runs

    with rt.uow(write=False) as uow:
        return runs.show_run(uow, rt.context("audrey.audit"), ref)


def change_state(rt: Runtime, ref: str) -> str:
    from changegate.services.lookup import load

    with rt.uow(write=False) as uow:
        return load(uow, ref).state
