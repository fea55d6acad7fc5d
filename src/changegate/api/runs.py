"""REST endpoints of deployment runs: a change's plan, deploy, roll back, confirm a manual step, the run
and its log. A deployment asked for here is queued and handed to the job engine (changegate.jobs): a worker
inside ``changegate serve`` (SQLite) or a ``changegate worker`` (PostgreSQL) carries it out."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import jobs
from ..schemas.common import ERROR_RESPONSES
from ..schemas.runs import CommitIn, ConfirmIn, DeployIn, DryRunOut, PlanIn, PlanOut, RollbackIn, RunOut
from ..services import run_stream, runs
from .deps import RT, Caller, model_response

router = APIRouter(prefix="/api/v1/changes", tags=["deployment runs"], responses=ERROR_RESPONSES)


@router.put("/{ref}/plan", response_model=PlanOut)
def attach_plan(ref: str, body: PlanIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = runs.attach_plan(uow, ctx, ref, body)
    return model_response(out)


@router.get("/{ref}/plan", response_model=PlanOut)
def get_plan(ref: str, ctx: Caller, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        out = runs.get_plan(uow, ctx, ref)
    return model_response(out)


@router.post("/{ref}/deploy", status_code=202, response_model=RunOut,
             responses={200: {"model": DryRunOut, "description": "dry run: exactly what would run, in order"}})
def deploy(ref: str, body: DeployIn, ctx: Caller, rt: RT) -> Response:
    """Ask the gate, start the change and queue its run (202); a worker carries it out."""
    with rt.uow() as uow:
        out = runs.create_run(uow, ctx, ref, body)
    if not body.dry_run:
        jobs.dispatch_run(rt, out.id)  # after the commit: the worker must find the run
    return model_response(out, status_code=200 if body.dry_run else 202)


@router.post("/{ref}/rollback", response_model=RunOut)
def rollback(ref: str, body: RollbackIn, ctx: Caller, rt: RT) -> Response:
    """Roll back now, skipping analysis: a person's decision, audited."""
    with rt.uow() as uow:
        out = runs.request_rollback(uow, ctx, ref, body)
    jobs.dispatch_run(rt, out.id)  # a resting (paused) run needs a worker again; a driven one keeps its own
    return model_response(out)


@router.post("/{ref}/run/confirm", response_model=RunOut)
def confirm(ref: str, body: ConfirmIn, ctx: Caller, rt: RT) -> Response:
    """A manual step is done (or failed). A run that paused on this step's timeout resumes: it is handed to a
    worker at once (the workers' sweep would only find it a third of the lease later)."""
    with rt.uow() as uow:
        out = runs.confirm_step(uow, ctx, ref, body)
    if out.lease_owner is None and out.state in runs.NEEDS_WORKER:
        jobs.dispatch_run(rt, out.id)  # after the commit: the worker must find the resumed run
    return model_response(out)


@router.post("/{ref}/run/commit", response_model=RunOut)
def commit(ref: str, body: CommitIn, ctx: Caller, rt: RT) -> Response:
    """Commit a paused run: a person decides the deployment stands after a failed check, audited."""
    with rt.uow() as uow:
        out = runs.commit_run(uow, ctx, ref, body)
    return model_response(out)


@router.get("/{ref}/run", response_model=RunOut)
def show_run(ref: str, ctx: Caller, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        out = runs.show_run(uow, ctx, ref)
    return model_response(out)


@router.get("/{ref}/run/log", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "the run's log"}})
async def run_log(ref: str, ctx: Caller, rt: RT, follow: bool = False) -> Response:
    """The newest run's steps as text: start, end, state, exit status and output of each. ``follow``: streamed,
    a line as each step starts and ends, an empty line as a keep-alive while nothing happens, until the run
    ends or pauses for a person. A followed stream holds no server thread between its polls
    (services/run_stream.py)."""
    if follow:  # the caller and the run are checked before the stream starts: errors are statuses, not streams
        cursor = await run_in_threadpool(run_stream.open_log, rt, ctx, ref)
        return StreamingResponse(run_stream.follow_async(cursor), media_type="text/plain; charset=utf-8")
    return Response(await run_in_threadpool(_log_text, rt, ctx, ref), media_type="text/plain; charset=utf-8")


def _log_text(rt, ctx, ref: str) -> str:
    with rt.uow(write=False) as uow:
        return runs.log_text(runs.show_run(uow, ctx, ref))
