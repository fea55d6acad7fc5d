"""The job engine's reads and writes of runs (changegate.jobs): lease one given run, find the runs that need
a worker, count a worker's unexpected errors. The run's lease stays the one source of truth: a job only asks
for a run; who drives it is decided here, under the row's lock."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import or_, select

from ..models import DeploymentRun
from .base import Repository


class DispatchRepository(Repository[DeploymentRun]):
    model = DeploymentRun

    @staticmethod
    def _free(now: datetime):
        return or_(DeploymentRun.lease_owner.is_(None), DeploymentRun.lease_expires < now)

    def claim(self, run_id: int, states: Iterable[str], worker: str, now: datetime,
              expires: datetime) -> DeploymentRun | None:
        """Lease run ``run_id`` to ``worker`` if a worker should drive it and nobody holds a live lease on it;
        None otherwise (another worker drives it, it rests or ended). PostgreSQL: ``FOR UPDATE SKIP LOCKED``:
        a run locked by its driver's write right now is not free either."""
        stmt = (select(DeploymentRun)
                .where(DeploymentRun.id == run_id, DeploymentRun.state.in_(list(states)), self._free(now))
                .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        run = self.s.execute(stmt).scalar_one_or_none()
        if run is not None:
            run.lease_owner, run.lease_expires = worker, expires
            self.s.flush()
        return run

    def needing_worker(self, states: Iterable[str], now: datetime, limit: int = 1000) -> list[int]:
        """Runs a worker should drive whose lease is free or expired (queued, or their worker stopped)."""
        return list(self.s.execute(
            select(DeploymentRun.id).where(DeploymentRun.state.in_(list(states)), self._free(now))
            .order_by(DeploymentRun.id).limit(limit)).scalars())
