"""Helpers shared by the job engine's tests (imported by name: pytest keeps a single module called
``conftest``)."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

from changegate.services.runtime import Runtime


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
