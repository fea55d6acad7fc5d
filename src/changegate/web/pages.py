"""The pages: dashboard, change list, change page, approval queue, and the actions taken from them.

Each handler opens a unit of work, calls services, and renders a template; a POST redirects
(303) to a page, so reloading never sends a form twice.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Callable, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..core.audit import parse_anchor
from ..core.changes.entities import ChangeType, ReleaseLevel, State
from ..core.errors import InvalidInput
from ..schemas.changes import ApprovalIn, AssessIn, ChangeFilter, CommentIn, TransitionIn
from ..schemas.common import problems
from ..services import audit, changes, dashboard, web_cache, web_changes
from ..services.context import Context
from ..services.runtime import Runtime
from .auth import _local
from .cmdb import item_link
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .render import page_html, render

T = TypeVar("T")

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)

PAGE_SIZE = 25
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")  # never SVG: it can carry script
Reason = Annotated[str, Form(max_length=2000)]


def _model(cls, **fields):
    """A boundary model from form fields; a bad field is InvalidInput naming it, shown on a page."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        found = problems(exc)
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in found), field=found[0].field) from None


def _views(request: Request) -> web_cache.ViewCache:
    state = request.app.state
    if getattr(state, "web_views", None) is None:
        state.web_views = web_cache.ViewCache()
    return state.web_views


def _records(request: Request) -> web_cache.RecordCache:
    state = request.app.state
    if getattr(state, "web_records", None) is None:
        state.web_records = web_cache.RecordCache()
    return state.web_records


def _parts(request: Request) -> web_cache.PageParts:
    state = request.app.state
    if getattr(state, "web_parts", None) is None:
        state.web_parts = web_cache.PageParts()
    return state.web_parts


async def kept_page(request: Request, ctx: Context, rt: Runtime, key: tuple, build: Callable[[object], T],
                    template: str, data: Callable[[T], dict], keep: Callable[[T], bool] = lambda view: True) -> Response:
    """A page kept as HTML while nothing is written (services/web_cache.py): keyed by what it shows (``key``:
    the page and the person), the minute, the audit chain's head (read with the session's check, deps.viewer)
    and the session's CSRF token (in its forms). A kept page costs that one statement and no thread-pool trip
    on SQLite. Otherwise the view is built in one snapshot whose own head keys it. A page carrying a one-time
    notice is never kept."""
    session, views = request.state.web, _views(request)
    key = (*key, web_cache.minute(ctx.now), session.csrf)
    if not session.flash:
        html = views.peek((*key, request.state.head))
        if html is not None:
            return HTMLResponse(html)

    def make() -> tuple[int, T]:
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            return web_cache.generation(uow), build(uow)

    head, view = await run_in_threadpool(make)
    noticed = bool(session.flash)
    html = page_html(request, template, me=ctx.actor, **data(view)).encode()
    if not noticed and keep(view):
        views.put((*key, head), html)
    return HTMLResponse(html)


@router.get("/")
async def dashboard_page(request: Request, ctx: Viewer, rt: RT) -> Response:
    return await kept_page(request, ctx, rt, ("dashboard", ctx.actor.id), lambda uow: dashboard.dashboard(uow, ctx, _records(request)),
                           "dashboard.html", lambda board: {"board": board, "tz": ctx.policy.schedule.timezone})


@router.get("/changes")
def change_list(
    request: Request, ctx: Viewer, rt: RT,
    state: Annotated[str, Query(max_length=20)] = "",
    environment: Annotated[str, Query(max_length=64)] = "",
    type: Annotated[str, Query(max_length=20)] = "",
    requester: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    level: Annotated[str, Query(max_length=20)] = "",
    planned_from: Annotated[str, Query(max_length=10)] = "",
    planned_to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    chosen = {"state": state, "environment": environment, "type": type, "requester": requester, "q": q,
              "level": level, "planned_from": planned_from, "planned_to": planned_to}
    zone = ctx.policy.schedule.timezone
    start, until = _local_day(planned_from, "planned_from", zone), _local_day(planned_to, "planned_to", zone)
    if start and until and until < start:
        raise InvalidInput("planned until is before planned from", field="planned_to")
    f = ChangeFilter(state=[state] if state else [], environment=[environment] if environment else [],
                     type=[type] if type else [], requester=requester or None, text=q or None,
                     release_level=[level] if level else [], planned_from=start,
                     planned_before=until + timedelta(days=1) if until else None,
                     limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    with rt.uow(write=False) as uow:
        found = changes.list_changes(uow, ctx, f)
    pages = max(1, -(-found.total // PAGE_SIZE))
    link = lambda n: "/changes?" + urlencode({**{k: v for k, v in chosen.items() if v}, "page": n})  # noqa: E731
    return render(request, "changes.html", me=ctx.actor, found=found, chosen=chosen, page=page, pages=pages,
                  link=link, states=[s.value for s in State], types=[t.value for t in ChangeType],
                  levels=[lv.value for lv in ReleaseLevel], tz=zone,
                  environments=list(ctx.policy.environments), people=ctx.policy.people)


def _local_day(value: str, field: str, zone: str) -> datetime | None:
    """A date field as the instant its day begins on the plant's clock (timedelta arithmetic on it stays
    on the wall clock, so a day across a DST change is still the whole day)."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), ZoneInfo(zone))
    except ValueError:
        raise InvalidInput(f"{field.replace('_', ' ')} {value!r} is not a date (YYYY-MM-DD)", field=field) from None


@router.get("/changes/{ref}")
async def change_page(request: Request, ref: str, ctx: Viewer, rt: RT) -> Response:
    def data(view: dashboard.ChangePage) -> dict:
        return {"view": view, "c": view.change, "previews": view.previews, "preview_bytes": dashboard.PREVIEW_BYTES,
                "images": _IMAGE_TYPES, "tz": ctx.policy.schedule.timezone_for(view.change.environment),
                "item_link": item_link}

    return await kept_page(request, ctx, rt, ("change", ref.upper(), ctx.actor.id),
                           lambda uow: dashboard.change_page(uow, ctx, ref, _parts(request)), "change.html", data, web_cache.small_enough)


@router.get("/changes/{ref}/run")
def run_page(request: Request, ref: str, ctx: Viewer, rt: RT, follow: bool = False) -> Response:
    """The newest deployment run with its steps and log. With ``follow``, it reloads itself while a worker
    drives it (asked for, not by default: a page that reloads on its own is an accessibility failure, WCAG 2.2.1)."""
    with rt.uow(write=False) as uow:
        view = web_changes.run_page(uow, ctx, ref)
    return render(request, "run.html", me=ctx.actor, view=view, r=view.run, refresh=web_changes.REFRESH_SECONDS,
                  follow=follow, live_seconds=web_changes.LIVE_SECONDS,
                  tz=ctx.policy.schedule.timezone_for(view.run.environment))


@router.get("/changes/{ref}/evidence/{evidence_id}")
def evidence(ref: str, evidence_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Viewer, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        meta, content = changes.evidence_content(uow, ctx, ref, evidence_id)
    inline = meta.media_type in _IMAGE_TYPES
    disposition = "inline" if inline else "attachment"
    return Response(content, media_type=meta.media_type if inline else "application/octet-stream", headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(meta.filename)}",
        "X-Content-SHA256": meta.sha256,
    })


@router.get("/approvals")
async def approval_queue(request: Request, ctx: Viewer, rt: RT) -> Response:
    """Kept as the dashboard is: each item's gate verdict is "as if deployed now", at most a minute old."""
    return await kept_page(request, ctx, rt, ("approvals", ctx.actor.id),
                           lambda uow: dashboard.approval_queue(uow, ctx, _records(request)), "approvals.html",
                           lambda queue: {"queue": queue, "images": _IMAGE_TYPES})


@router.post("/changes/{ref}/approvals")
def decide(request: Request, ref: str, ctx: Viewer, rt: RT, role: Annotated[str, Form(max_length=64)],
           decision: Annotated[str, Form(max_length=10)], reason: Reason = "",
           expected_version: Annotated[int | None, Form()] = None, next: Annotated[str, Form()] = "") -> Response:
    body = _model(ApprovalIn, role=role, decision=decision, reason=reason, expected_version=expected_version)
    with rt.uow() as uow:
        out = changes.decide_approval(uow, ctx, ref, body)
    request.state.web.say(f"{out.ref} {body.decision.value} as {role.replace('_', ' ')}; it is now {out.state.value}")
    return RedirectResponse(_local(next or f"/changes/{out.ref}"), status_code=303)


def _planned(value: str, zone: str) -> datetime | None:
    """A datetime-local field, read on the wall clock of ``zone`` (the change's environment's, as the form's
    label says); a value with an offset (a slot offered by the page) is taken as it is."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
        return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        raise InvalidInput(f"planned start {value!r} is not a date and time", field="planned_start") from None


Analysis = Annotated[str, Form(max_length=100_000)]


@router.post("/changes/{ref}/transitions")
def act(request: Request, ref: str, ctx: Viewer, rt: RT, action: Annotated[str, Form(max_length=20)],
        reason: Reason = "", planned_start: Annotated[str, Form(max_length=40)] = "",
        expected_version: Annotated[int | None, Form()] = None, risk: Annotated[str, Form(max_length=20)] = "",
        readiness_analysis: Analysis = "", risk_analysis: Analysis = "", emergency_plan: Analysis = "") -> Response:
    with rt.uow() as uow:
        if action == "assess":
            body = _model(AssessIn, reason=reason, expected_version=expected_version, risk=risk or None,
                          readiness_analysis=readiness_analysis.replace("\r\n", "\n"),
                          risk_analysis=risk_analysis.replace("\r\n", "\n"),
                          emergency_plan=emergency_plan.replace("\r\n", "\n"))
            out = changes.assess(uow, ctx, ref, body)
        else:
            zone = web_changes.schedule_zone(uow, ctx, ref) if planned_start else ""
            body = _model(TransitionIn, action=action, reason=reason, expected_version=expected_version,
                          planned_start=_planned(planned_start, zone))
            out = changes.transition(uow, ctx, ref, body)
    request.state.web.say(f"{out.ref}: {action.replace('_', ' ')} done; it is now {out.state.value}")
    return RedirectResponse(f"/changes/{out.ref}", status_code=303)


@router.post("/changes/{ref}/comments")
def comment(request: Request, ref: str, ctx: Viewer, rt: RT, body: Annotated[str, Form(max_length=50_000)]) -> Response:
    with rt.uow() as uow:
        out = changes.add_comment(uow, ctx, ref, _model(CommentIn, body=body.replace("\r\n", "\n")))
    request.state.web.say(f"comment added to {out.ref}")
    return RedirectResponse(f"/changes/{out.ref}#h-comments", status_code=303)


@router.post("/changes/{ref}/uat-signoff")
def sign_off(request: Request, ref: str, ctx: Viewer, rt: RT, note: Reason = "") -> Response:
    with rt.uow() as uow:
        out = changes.sign_off_uat(uow, ctx, ref, note)
    request.state.web.say(f"UAT of {out.ref} signed off by {ctx.actor.id}")
    return RedirectResponse(f"/changes/{out.ref}#h-approvals", status_code=303)


@router.get("/audit")
def audit_page(request: Request, ctx: Viewer, rt: RT, verify: bool = False,
               anchor: Annotated[str, Query(max_length=100)] = "") -> Response:
    """For auditors: the chain's head to keep elsewhere, and on request the verification of the whole
    chain (every link and hash, the anchor given, every change record against its events)."""
    anchors = [parse_anchor(anchor)] if anchor.strip() else []
    with rt.uow(write=False) as uow:
        head = audit.head(uow, ctx)  # checks audit.read
        verdict = audit.verify(uow, ctx, anchors=anchors) if verify else None
    return render(request, "audit.html", me=ctx.actor, head=head, verdict=verdict, anchor=anchor)
