"""Helpers shared by the runner tests (imported by name: pytest keeps a single module called ``conftest``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from changegate.schemas.changes import AssessIn, ChangeCreate, TransitionIn
from changegate.services import changes
from changegate.services.runtime import Runtime

SERVICE = Path(__file__).with_name("release_service.py")
# The default policy with a short lease (kill -9 tests wait for it to expire) and checks soon after deploying.
TEST_DEPLOY = "\ndeploy:\n  lease: 5s\n  check_after: 1s\n"
# A lease must outlast twice the SQLite writer wait (core/runs/lease.py): these tests shorten the wait to 2 s,
# in this process and in the changegate processes they start.
TEST_WRITER_WAIT = 2


@dataclass
class Service:
    root: Path
    url: str

    @property
    def live(self) -> Path:
        return self.root / "live"

    def release(self, name: str, *, version: str, health: str = "ok", latency: float = 0.0) -> Path:
        folder = self.root / "releases" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "version").write_text(version)
        (folder / "health").write_text(health)
        (folder / "latency").write_text(str(latency))
        return folder

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scheduled_dev_change(rt: Runtime, rollback_script: str, **overrides) -> str:
    """A change to dev (no approval needed, no schedule enforced) scheduled and ready to deploy."""
    body = ChangeCreate(**{
        "title": "Ship the new release", "category": "application", "release_level": "patch",
        "environment": "dev", "items": ["mes-labels"], "impact_analysis": "line 3",
        "implementation_plan": "deploy", "verification_plan": "smoke", "rollback_plan": {"script": rollback_script},
        "planned_start": datetime.now(timezone.utc) + timedelta(minutes=5), "estimated_downtime": 5,
        "version": "2.0.0", **overrides})
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


