"""Deployment plans, runs and their steps; the worker's lease (claim, renew) lives here too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import Float, literal, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..models import DeploymentPlan, DeploymentRun, RunStep
from ..tables import UTCDateTime
from .base import Repository


# --- the lease's clock ------------------------------------------------------------------------------
# A lease is measured by one clock. On PostgreSQL that is the database's (clock_timestamp(): the instant of
# the statement, not of its transaction's start), so workers on machines whose clocks disagree neither steal a
# live lease (a clock running ahead) nor hold a dead one longer (a clock running behind). SQLite is one file on
# one machine: its workers share that machine's clock, the caller's ``now``.


class lease_clock(FunctionElement):
    """Now, for comparing with ``lease_expires``."""

    type = UTCDateTime()
    inherit_cache = True
    name = "lease_clock"

    def __init__(self, now: datetime):
        super().__init__(literal(now, UTCDateTime()))


class lease_until(FunctionElement):
    """Now plus ``seconds``: a lease's new expiry."""

    type = UTCDateTime()
    inherit_cache = True
    name = "lease_until"

    def __init__(self, now: datetime, seconds: float):
        super().__init__(literal(now + timedelta(seconds=seconds), UTCDateTime()), literal(float(seconds), Float()))


@compiles(lease_clock)
@compiles(lease_until)
def _callers_clock(element, compiler, **kw) -> str:
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(lease_clock, "postgresql")
def _database_clock(element, compiler, **kw) -> str:
    return "clock_timestamp()"


@compiles(lease_until, "postgresql")
def _database_expiry(element, compiler, **kw) -> str:
    return f"(clock_timestamp() + make_interval(secs => {compiler.process(list(element.clauses)[1], **kw)}))"


class PlanRepository(Repository[DeploymentPlan]):
    model = DeploymentPlan

    def current(self, change_id: int) -> DeploymentPlan | None:
        return self.s.execute(
            select(DeploymentPlan).where(DeploymentPlan.change_id == change_id)
            .order_by(DeploymentPlan.id.desc()).limit(1)
        ).scalar_one_or_none()


class RunRepository(Repository[DeploymentRun]):
    model = DeploymentRun

    def dialect(self) -> str:
        """The database's dialect name ("sqlite", "postgresql"): a lease's timing depends on it."""
        return self.s.get_bind().dialect.name

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

    def claim_next(self, states: Iterable[str], worker: str, now: datetime, seconds: float) -> DeploymentRun | None:
        """Take the oldest run a worker should drive whose lease is free or expired, and lease it to
        ``worker`` for ``seconds``. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two workers never take the same
        run and never wait for each other; SQLite: the unit of work holds the one write lock already."""
        return lease_first(self.s, [DeploymentRun.state.in_(list(states))], worker, now, seconds)

    def lease_if_free(self, run_id: int, states: Iterable[str], worker: str, now: datetime,
                      seconds: float) -> DeploymentRun | None:
        """Lease run ``run_id`` in one of ``states`` to ``worker`` unless somebody holds a live lease on it."""
        return lease_first(self.s, [DeploymentRun.id == run_id, DeploymentRun.state.in_(list(states))], worker,
                           now, seconds)

    def set_lease(self, run: DeploymentRun, worker: str, now: datetime, seconds: float, *, flush: bool = True) -> None:
        """Lease ``run`` (locked or new) to ``worker`` for ``seconds`` from now (the database's now on
        PostgreSQL). Without ``flush`` the expiry is written with the run's other changes (one UPDATE), and
        ``run.lease_expires`` must not be read before."""
        run.lease_owner, run.lease_expires = worker, lease_until(now, seconds)
        if flush:
            self.s.flush()

    def renew(self, run_id: int, worker: str, now: datetime, seconds: float) -> bool:
        """Extend the lease by ``seconds`` if ``worker`` still holds it; False: it was lost (taken over, or
        given back)."""
        result = self.s.execute(
            update(DeploymentRun).where(DeploymentRun.id == run_id, DeploymentRun.lease_owner == worker)
            .values(lease_expires=lease_until(now, seconds)).execution_options(synchronize_session=False))
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
    """A run nobody holds a live lease on: none, or an expired one (by the database's clock on PostgreSQL)."""
    return or_(DeploymentRun.lease_owner.is_(None), DeploymentRun.lease_expires < lease_clock(now))


def lease_first(s, where: list, worker: str, now: datetime, seconds: float) -> DeploymentRun | None:
    """The oldest run matching ``where`` with a free lease, leased to ``worker``. PostgreSQL: ``FOR UPDATE SKIP
    LOCKED``, so two workers never take the same run nor wait for each other, and a run locked by its driver's
    write right now is not free either; SQLite: the unit of work holds the one write lock already."""
    stmt = (select(DeploymentRun).where(*where, free_lease(now)).order_by(DeploymentRun.id).limit(1)
            .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    run = s.execute(stmt).scalar_one_or_none()
    if run is not None:
        run.lease_owner, run.lease_expires = worker, lease_until(now, seconds)
        s.flush()
    return run
