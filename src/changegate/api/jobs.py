"""Background jobs: the SQL check and the audit verification started here answer 202 at once with a job;
``GET /api/v1/jobs/{id}`` shows its state and progress, and its result when it ended. A worker of the job
engine (changegate.jobs) carries it out. The synchronous ``POST /changes/{ref}/sql-check`` and
``GET /audit/verify`` stay as they were."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from .. import jobs
from ..schemas.common import ERROR_RESPONSES, MAX_ID
from ..schemas.jobs import AuditVerifyIn, JobOut
from ..schemas.sqlcheck import SqlCheckIn
from ..services import background
from .deps import RT, Caller, model_response

router = APIRouter(prefix="/api/v1", tags=["background jobs"], responses=ERROR_RESPONSES)


def _started(rt, out: JobOut) -> Response:
    jobs.dispatch_job(rt, out.id)  # after the commit: the worker must find the job
    response = model_response(out, status_code=202)
    response.headers["Location"] = out.href
    return response


@router.post("/changes/{ref}/sql-check/jobs", status_code=202, response_model=JobOut)
def start_sql_check(ref: str, body: SqlCheckIn, ctx: Caller, rt: RT) -> Response:
    """The SQL check as a background job: refused now if the caller may not check this change; the report
    (the synchronous endpoint's answer) is the job's result, and is attached as evidence as there."""
    with rt.uow() as uow:
        out = background.start_sql_check(uow, ctx, ref, body)
    return _started(rt, out)


@router.post("/audit/verify/jobs", status_code=202, response_model=JobOut, tags=["audit"])
def start_audit_verify(body: AuditVerifyIn, ctx: Caller, rt: RT) -> Response:
    """The audit verification as a background job, with its progress (events checked of the chain's length);
    the verdict (``GET /audit/verify``'s answer) is the job's result."""
    with rt.uow() as uow:
        out = background.start_audit_verify(uow, ctx, body.anchors)
    return _started(rt, out)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: Caller, rt: RT) -> Response:
    """A background job: queued, running (with its progress), succeeded (with its result) or failed (with
    its error). Visible to whoever started it and to those who may read the audit trail."""
    with rt.uow(write=False) as uow:
        out = background.get_job(uow, ctx, job_id)
    return model_response(out)
