"""Deployment from the change page: deploy (the gate asked when the change starts; an emergency override
with its reason) and roll back, through the same use cases as the API and the CLI (services/runs.py); and
the run page's live log, polled by the packaged script static/follow.js."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .. import jobs
from ..schemas.runs import DeployIn, PlanIn, RollbackIn
from ..services import runs, web_changes
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .pages import _model
from .render import fragment_html

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)

Reason = Annotated[str, Form(max_length=2000)]


@router.post("/changes/{ref}/deploy")
def deploy(request: Request, ref: str, ctx: Viewer, rt: RT, environment: Annotated[str, Form(max_length=64)],
           override_reason: Reason = "", plan: Annotated[str, Form(max_length=1_000_000)] = "") -> Response:
    """As ``POST /api/v1/changes/{ref}/deploy``: ask the gate, start the change, queue its run, hand it to a
    worker after the commit. A plan typed in the form is attached first."""
    text = plan.replace("\r\n", "\n").strip()
    body = _model(DeployIn, environment=environment, override_reason=override_reason,
                  plan=_model(PlanIn, text=text + "\n") if text else None)  # a bad plan: a page naming it, not a 500
    with rt.uow() as uow:
        out = runs.create_run(uow, ctx, ref, body)
    jobs.dispatch_run(rt, out.id)  # after the commit: the worker must find the run
    request.state.web.say(f"{out.change}: deployment run {out.id} queued"
                          + (" with the gate overridden" if override_reason.strip() else ""))
    return RedirectResponse(f"/changes/{out.change}/run", status_code=303)


@router.post("/changes/{ref}/rollback")
def roll_back(request: Request, ref: str, ctx: Viewer, rt: RT, reason: Reason = "") -> Response:
    """As ``POST /api/v1/changes/{ref}/rollback``: a person's decision to roll the run back now, audited."""
    body = _model(RollbackIn, reason=reason)
    with rt.uow() as uow:
        out = runs.request_rollback(uow, ctx, ref, body)
    jobs.dispatch_run(rt, out.id)  # a resting (paused) run needs a worker again
    request.state.web.say(f"{out.change}: run {out.id} is rolling back")
    return RedirectResponse(f"/changes/{out.change}/run", status_code=303)


@router.get("/changes/{ref}/run/live")
def live(ref: str, ctx: Viewer, rt: RT) -> Response:
    """The run's state and the run page's body (facts, steps, log) as JSON, for static/follow.js, which polls
    it while the run is active and puts the body in place."""
    with rt.uow(write=False) as uow:
        view = web_changes.run_page(uow, ctx, ref)
    html = fragment_html("_run_body.html", view=view, r=view.run, follow=False, refresh=web_changes.REFRESH_SECONDS,
                         tz=ctx.policy.schedule.timezone_for(view.run.environment))
    return JSONResponse({"run": view.run.id, "state": str(view.run.state.value).replace("_", " "),
                         "active": view.active, "html": html}, headers={"Cache-Control": "no-store"})
