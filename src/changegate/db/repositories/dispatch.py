"""The job engine's reads and writes (changegate.jobs): lease one given run, find the runs that need a worker;
the background jobs (SQL check, audit verification) and their leases. The lease on our row stays the one
source of truth: a job engine's job only asks for a run or a background job; who carries it out is decided
here, under the row's lock."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, or_, select, update

from ..models import BackgroundJob, DeploymentRun
from .base import Repository
from .runs import free_lease, lease_first


class DispatchRepository(Repository[DeploymentRun]):
    model = DeploymentRun

    def claim(self, run_id: int, states: Iterable[str], worker: str, now: datetime,
              seconds: float) -> DeploymentRun | None:
        """Lease run ``run_id`` to ``worker`` if a worker should drive it and nobody holds a live lease on it;
        None otherwise (another worker drives it, it rests or ended). PostgreSQL: ``FOR UPDATE SKIP LOCKED``:
        a run locked by its driver's write right now is not free either."""
        return lease_first(self.s, [DeploymentRun.id == run_id, DeploymentRun.state.in_(list(states))], worker,
                           now, seconds)

    def needing_worker(self, states: Iterable[str], now: datetime, limit: int = 1000) -> list[int]:
        """Runs a worker should drive whose lease is free or expired (queued, or their worker stopped)."""
        return list(self.s.execute(
            select(DeploymentRun.id).where(DeploymentRun.state.in_(list(states)), free_lease(now))
            .order_by(DeploymentRun.id).limit(limit)).scalars())

    # --- background jobs -------------------------------------------------------------------------------

    def add_job(self, job: BackgroundJob) -> BackgroundJob:
        self.s.add(job)
        self.s.flush()
        return job

    def job(self, job_id: int, *, lock: bool = False) -> BackgroundJob | None:
        stmt = select(BackgroundJob).where(BackgroundJob.id == job_id).execution_options(populate_existing=True)
        return self.s.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()

    @staticmethod
    def _job_free(now: datetime):
        return or_(BackgroundJob.lease_owner.is_(None), BackgroundJob.lease_expires < now)

    def claim_job(self, job_id: int | None, worker: str, now: datetime, expires: datetime) -> BackgroundJob | None:
        """Lease a queued or running job whose lease is free or expired: ``job_id``, or the oldest one."""
        stmt = select(BackgroundJob).where(BackgroundJob.state.in_(["queued", "running"]), self._job_free(now))
        if job_id is not None:
            stmt = stmt.where(BackgroundJob.id == job_id)
        stmt = (stmt.order_by(BackgroundJob.id).limit(1).with_for_update(skip_locked=True)
                .execution_options(populate_existing=True))
        job = self.s.execute(stmt).scalar_one_or_none()
        if job is not None:
            job.lease_owner, job.lease_expires = worker, expires
            self.s.flush()
        return job

    def jobs_needing_worker(self, now: datetime, limit: int = 1000) -> list[int]:
        return list(self.s.execute(
            select(BackgroundJob.id).where(BackgroundJob.state.in_(["queued", "running"]), self._job_free(now))
            .order_by(BackgroundJob.id).limit(limit)).scalars())

    def renew_job(self, job_id: int, worker: str, expires: datetime) -> bool:
        result = self.s.execute(
            update(BackgroundJob).where(BackgroundJob.id == job_id, BackgroundJob.lease_owner == worker)
            .values(lease_expires=expires).execution_options(synchronize_session=False))
        return result.rowcount == 1

    def prune_jobs(self, succeeded_before: datetime, failed_before: datetime) -> tuple[int, int]:
        """Delete the jobs that succeeded before ``succeeded_before`` and those that failed before
        ``failed_before``; how many of each."""
        counts = []
        for state, before in (("succeeded", succeeded_before), ("failed", failed_before)):
            result = self.s.execute(delete(BackgroundJob).where(BackgroundJob.state == state,
                                                                BackgroundJob.ended_at < before)
                                    .execution_options(synchronize_session=False))
            counts.append(result.rowcount)
        return counts[0], counts[1]
