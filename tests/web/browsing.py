"""Helpers of the browser tests: sign in, screenshots, a change waiting for approval."""

from __future__ import annotations

import re
from pathlib import Path

from changegate.schemas.changes import ApprovalIn, AssessIn, ChangeCreate, TransitionIn
from changegate.services import changes
from changegate.services.runtime import Runtime

SHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "correct horse battery staple"


def sign_in(page, base: str, person: str, password: str = PASSWORD) -> None:
    page.goto(base + "/sign-in")
    page.get_by_label("Person id").fill(person)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def screenshot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"), full_page=True)


def assessed_change(rt: Runtime, requester: str = "dana.dev", level: str = "minor",
                    title: str = "Add OEE dashboard to the line screens", items: tuple[str, ...] = ("mes-web", "line-3"),
                    ) -> str:
    """A change in PROD, assessed by the change manager, waiting for the approvals its level needs."""
    body = ChangeCreate(
        title=title, category="application", release_level=level, environment="prod",
        items=list(items), impact_analysis="The line screens reload once.", implementation_plan="deploy",
        verification_plan="look at the screens", rollback_plan={"script": "deploy mes-web 1.4.0"},
        planned_start="2026-12-02T08:00:00Z", estimated_downtime=10, version="1.5.0",
    )
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context(requester), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context(requester), ref, filename="uat.log",
                                content=b"42 passed, 0 failed\n", media_type="text/plain", max_bytes=1000)
    with rt.uow() as uow:
        changes.transition(uow, rt.context(requester), ref, TransitionIn(action="submit"))
    with rt.uow() as uow:
        changes.assess(uow, rt.context("chris.change"), ref, AssessIn(reason="ready"))
    return ref


def authorized_change(rt: Runtime, title: str = "Add OEE dashboard to the line screens",
                      items: tuple[str, ...] = ("mes-web", "line-3")) -> str:
    """An assessed minor change approved by the IT and operations managers: authorized, waiting for a slot."""
    ref = assessed_change(rt, title=title, items=items)
    for person, role in (("ines.itmgr", "it_manager"), ("omar.ops", "operations_manager")):
        with rt.uow() as uow:
            changes.decide_approval(uow, rt.context(person), ref, ApprovalIn(role=role))
    return ref


def dev_change(rt) -> str:
    """A patch to dev (no approval, no schedule enforced), scheduled: ready to deploy."""
    body = ChangeCreate(title="Ship the label service", category="application", release_level="patch",
                        environment="dev", items=["mes-labels"], impact_analysis="line 3",
                        implementation_plan="deploy", verification_plan="smoke", rollback_plan={"script": "true"},
                        planned_start="2026-12-01T08:05:00Z", estimated_downtime=5, version="2.0.0")
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context("rene.release"), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("rene.release"), ref, filename="uat.log", content=b"ok",
                                media_type="text/plain", max_bytes=1000)
    with rt.uow() as uow:
        changes.transition(uow, rt.context("rene.release"), ref, TransitionIn(action="submit"))
    with rt.uow() as uow:
        changes.assess(uow, rt.context("chris.change"), ref, AssessIn())
    with rt.uow() as uow:
        changes.transition(uow, rt.context("chris.change"), ref, TransitionIn(action="schedule"))
    return ref


PLAN = """
steps:
  - name: say hello
    run: [sh, -c, "echo hello from the release"]
timing:
  check_after: 0s
"""
