"""Deployment plans, runs and their steps; the worker's lease (claim, renew) lives here too."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import or_, select, update

from ..models import DeploymentPlan, DeploymentRun, RunStep
from .base import Repository


class PlanRepository(Repository[DeploymentPlan]):
    model = DeploymentPlan

    def current(self, change_id: int) -> DeploymentPlan | None:
        return self.s.execute(
            select(DeploymentPlan).where(DeploymentPlan.change_id == change_id)
            .order_by(DeploymentPlan.id.desc()).limit(1)
        ).scalar_one_or_none()


class RunRepository(Repository[DeploymentRun]):
    model = DeploymentRun

    def lock(self, run_id: int) -> DeploymentRun | None:
        """The run, locked until the unit of work ends (SQLite: writers are serialised already)."""
        stmt = (select(DeploymentRun).where(DeploymentRun.id == run_id).with_for_update()
                .execution_options(populate_existing=True))
        return self.s.execute(stmt).scalar_one_or_none()

    def for_change(self, change_id: int) -> list[DeploymentRun]:
        return list(self.s.execute(
            select(DeploymentRun).where(DeploymentRun.change_id == change_id).order_by(DeploymentRun.id)
        ).scalars())

    def unfinished_for_change(self, change_id: int, states: Iterable[str]) -> DeploymentRun | None:
        return self.s.execute(
            select(DeploymentRun).where(DeploymentRun.change_id == change_id, DeploymentRun.state.in_(list(states)))
            .limit(1)
        ).scalar_one_or_none()

    def committed_with_artifact(self, environment: str, sha256: str, committed: str) -> DeploymentRun | None:
        return self.s.execute(
            select(DeploymentRun).where(DeploymentRun.environment == environment,
                                        DeploymentRun.artifact_sha256 == sha256, DeploymentRun.state == committed)
            .order_by(DeploymentRun.id.desc()).limit(1)
        ).scalar_one_or_none()

    def claim_next(self, states: Iterable[str], worker: str, now: datetime, expires: datetime) -> DeploymentRun | None:
        """Take the oldest run a worker should drive whose lease is free or expired, and lease it to
        ``worker``. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two workers never take the same run and
        never wait for each other; SQLite: the unit of work holds the one write lock already."""
        return lease_first(self.s, [DeploymentRun.state.in_(list(states))], worker, now, expires)

    def renew(self, run_id: int, worker: str, expires: datetime) -> bool:
        """Extend the lease if ``worker`` still holds it; False: it was lost (expired and taken over)."""
        result = self.s.execute(
            update(DeploymentRun).where(DeploymentRun.id == run_id, DeploymentRun.lease_owner == worker)
            .values(lease_expires=expires).execution_options(synchronize_session=False))
        return result.rowcount == 1

    def step(self, run_id: int, key: str) -> RunStep | None:
        return self.s.execute(
            select(RunStep).where(RunStep.run_id == run_id, RunStep.key == key)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def steps(self, run_id: int, after_id: int = 0, also: Iterable[int] = ()) -> list[RunStep]:
        """The run's steps after ``after_id``, and the steps ``also`` (those still open: a follower's re-read)."""
        newer = RunStep.id > after_id
        also = list(also)
        return list(self.s.execute(
            select(RunStep).where(RunStep.run_id == run_id, or_(newer, RunStep.id.in_(also)) if also else newer)
            .order_by(RunStep.id)
            .execution_options(populate_existing=True)
        ).scalars())

    def add_step(self, step: RunStep) -> RunStep:
        self.s.add(step)
        self.s.flush()
        return step


def free_lease(now: datetime):
    """A run nobody holds a live lease on: none, or an expired one."""
    return or_(DeploymentRun.lease_owner.is_(None), DeploymentRun.lease_expires < now)


def lease_first(s, where: list, worker: str, now: datetime, expires: datetime) -> DeploymentRun | None:
    """The oldest run matching ``where`` with a free lease, leased to ``worker``. PostgreSQL: ``FOR UPDATE SKIP
    LOCKED``, so two workers never take the same run nor wait for each other, and a run locked by its driver's
    write right now is not free either; SQLite: the unit of work holds the one write lock already."""
    stmt = (select(DeploymentRun).where(*where, free_lease(now)).order_by(DeploymentRun.id).limit(1)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    run = s.execute(stmt).scalar_one_or_none()
    if run is not None:
        run.lease_owner, run.lease_expires = worker, expires
        s.flush()
    return run
