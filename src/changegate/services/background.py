"""Background jobs: long work that once ran inside an HTTP request (the SQL check, the audit verification),
started through the API, carried out by a worker of the job engine (changegate.jobs), polled until it ends.

A job is a row (``background_jobs``) with its state, progress, result and a lease, like a run: the job engine
only says when to look; ``claim`` decides who carries a job out. The work is read-only until its very end (a
SQL check attaches its report in one unit of work with the job's end), so a job whose worker died is simply
carried out again from the start by the next worker, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from ..core.audit import parse_anchor
from ..core.errors import ChangegateError, NotFound
from ..core.policy.model import Permission
from ..db.models import BackgroundJob
from ..db.uow import UnitOfWork
from ..schemas.jobs import JobOut, JobProgress
from ..schemas.sqlcheck import SqlCheckIn
from . import audit, sqlcheck
from .context import Context
from .runtime import Runtime

MAX_ATTEMPTS = 3
PROGRESS_EVERY_SECONDS = 0.5  # progress is written at most this often (one short transaction each)
FINAL = ("succeeded", "failed")


# --- starting and reading (the API's side) -----------------------------------------------------------


def start_sql_check(uow: UnitOfWork, ctx: Context, ref: str, body: SqlCheckIn) -> JobOut:
    sqlcheck.may_check(uow, ctx, ref)  # refused now, not later in the job
    return _add(uow, ctx, "sql_check", {"ref": ref, "request": body.model_dump(mode="json")})


def start_audit_verify(uow: UnitOfWork, ctx: Context, anchors: list[str]) -> JobOut:
    ctx.require(Permission.AUDIT_READ, entity="audit")
    for anchor in anchors:
        parse_anchor(anchor)  # a bad one is the caller's error now
    return _add(uow, ctx, "audit_verify", {"anchors": list(anchors)})


def _add(uow: UnitOfWork, ctx: Context, kind: str, params: dict) -> JobOut:
    job = uow.dispatch.add_job(BackgroundJob(kind=kind, state="queued", actor=ctx.actor.id, params=params,
                                             progress={"phase": "queued"}, attempts=0, created_at=ctx.now))
    return job_out(job)


def get_job(uow: UnitOfWork, ctx: Context, job_id: int) -> JobOut:
    """Who started a job may read it, and so may whoever may read the audit trail."""
    job = uow.dispatch.job(job_id)
    if job is None or (job.actor != ctx.actor.id and not ctx.may(Permission.AUDIT_READ)):
        raise NotFound(f"no background job {job_id}")
    return job_out(job)


def job_out(job: BackgroundJob) -> JobOut:
    return JobOut(id=job.id, kind=job.kind, state=job.state, actor=job.actor,
                  progress=JobProgress(**(job.progress or {})), result=job.result, error=job.error,
                  attempts=job.attempts, created_at=job.created_at, started_at=job.started_at,
                  ended_at=job.ended_at, href=f"/api/v1/jobs/{job.id}")


# --- carrying a job out (a worker's side) ------------------------------------------------------------


def claim(rt: Runtime, worker: str, job_id: int | None = None) -> int | None:
    """Lease a job that needs a worker (queued, or whose worker stopped): ``job_id`` or the oldest."""
    now = rt.clock()
    with rt.uow() as uow:
        job = uow.dispatch.claim_job(job_id, worker, now, now + _lease(rt))
        if job is None:
            return None
        job.attempts += 1
        job.state, job.started_at = "running", job.started_at or now
        if job.attempts > MAX_ATTEMPTS:
            _end(job, now, error={"error": "job_abandoned", "message": f"the job was started {MAX_ATTEMPTS} "
                                  "times and its worker stopped each time; start it again"})
            return None
        return job.id


def needing_worker(rt: Runtime) -> list[int]:
    with rt.uow(write=False) as uow:
        return uow.dispatch.jobs_needing_worker(rt.clock())


def carry_out(rt: Runtime, job_id: int, worker: str) -> str:
    """Do the job leased to ``worker`` and record its end; its final state."""
    with rt.uow(write=False) as uow:
        job = uow.dispatch.job(job_id)
        kind, actor, params = job.kind, job.actor, dict(job.params)
    beat = _Heartbeat(rt, job_id, worker)
    try:
        ctx = rt.context(actor)
        if kind == "sql_check":
            return _sql_check(rt, ctx, job_id, worker, params, beat)
        return _audit_verify(rt, ctx, job_id, worker, params, beat)
    except ChangegateError as exc:
        return _finish(rt, job_id, worker, error=exc.to_dict())
    except Exception as exc:  # noqa: BLE001 - recorded on the job: the caller polls for it
        return _finish(rt, job_id, worker, error={"error": "internal_error",
                                                  "message": f"{type(exc).__name__}: {exc}"[:2000]})
    finally:
        beat.stop.set()


def _sql_check(rt: Runtime, ctx: Context, job_id: int, worker: str, params: dict, beat: "_Heartbeat") -> str:
    request = SqlCheckIn.model_validate(params["request"])
    ref = params["ref"]
    with rt.uow(write=False) as uow:
        sqlcheck.may_check(uow, ctx, ref)
    beat.progress(f"checking the scripts on a scratch {request.engine} database")
    scripts, report = sqlcheck.check_request(request)
    beat.progress("attaching the report and the scripts as evidence")
    with rt.uow() as uow:  # the evidence and the job's end commit together
        job = _mine(uow, job_id, worker)
        sqlcheck.attach_report(uow, rt.context(ctx.actor), ref, scripts, report,
                               max_bytes=rt.settings.max_evidence_bytes)
        _end(job, rt.clock(), result=report)
    return "succeeded"


def _audit_verify(rt: Runtime, ctx: Context, job_id: int, worker: str, params: dict, beat: "_Heartbeat") -> str:
    anchors = [parse_anchor(a) for a in params["anchors"]]
    beat.progress("checking the chain")
    with rt.uow(write=False) as uow:
        verdict = audit.verify(uow, ctx, anchors=anchors, progress=beat.progress)
    return _finish(rt, job_id, worker, result=verdict.to_dict())


def _finish(rt: Runtime, job_id: int, worker: str, *, result: dict | None = None, error: dict | None = None) -> str:
    with rt.uow() as uow:
        job = _mine(uow, job_id, worker)
        if job is None:
            return "lost"  # taken over: the new holder records the end
        _end(job, rt.clock(), result=result, error=error)
        return job.state


def _mine(uow: UnitOfWork, job_id: int, worker: str) -> BackgroundJob | None:
    job = uow.dispatch.job(job_id, lock=True)
    return job if job is not None and job.lease_owner == worker and job.state not in FINAL else None


def _end(job: BackgroundJob, now, *, result: dict | None = None, error: dict | None = None) -> None:
    job.state = "failed" if error is not None else "succeeded"
    job.result, job.error, job.ended_at = result, error, now
    job.progress = {**(job.progress or {}), "phase": job.state}
    job.lease_owner, job.lease_expires = None, None


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.policy.deploy.lease)


class _Heartbeat:
    """Renews the job's lease every third of it, and writes its progress (at most every half second)."""

    def __init__(self, rt: Runtime, job_id: int, worker: str):
        self.rt, self.job_id, self.worker = rt, job_id, worker
        self.stop = threading.Event()
        self._last, self._phase = 0.0, ""
        threading.Thread(target=self._beat, name=f"job-{job_id}", daemon=True).start()

    def _beat(self) -> None:
        lease = _lease(self.rt)
        while not self.stop.wait(lease.total_seconds() / 3):
            with self.rt.uow() as uow:
                if not uow.dispatch.renew_job(self.job_id, self.worker, self.rt.clock() + lease):
                    return

    def progress(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        now = time.monotonic()
        if phase == self._phase and now - self._last < PROGRESS_EVERY_SECONDS:
            return  # a new phase is always written; counts within one at most every half second
        self._last, self._phase = now, phase
        with self.rt.uow() as uow:
            job = _mine(uow, self.job_id, self.worker)
            if job is not None:
                job.progress = {"phase": phase, "done": done, "total": total}


# --- pruning (the workers' sweep, ``changegate jobs prune``) ---------------------------------------------


def retention(rt: Runtime) -> tuple[timedelta, timedelta]:
    """How long a succeeded job and a failed job are kept after their end (settings)."""
    return (timedelta(days=rt.settings.job_retention_days), timedelta(days=rt.settings.failed_job_retention_days))


def prune(rt: Runtime) -> dict[str, int]:
    """Delete the background jobs that ended longer ago than their retention: how many succeeded and failed
    ones. What a job did stays where it belongs: a SQL check's report is the change's evidence, and every
    decision is in the audit chain; the job row is only how its caller polled for it."""
    keep, keep_failed = retention(rt)
    now = rt.clock()
    with rt.uow() as uow:
        succeeded, failed = uow.dispatch.prune_jobs(now - keep, now - keep_failed)
    return {"succeeded": succeeded, "failed": failed}
