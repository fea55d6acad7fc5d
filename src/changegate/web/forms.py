"""The new-change form and evidence upload: validation messages go beside the fields they name."""

from __future__ import annotations

import re
from typing import Annotated

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from ..core.changes.entities import Category, ChangeType, ReleaseLevel, Risk
from ..core.errors import InvalidInput
from ..core.policy.model import Permission
from ..schemas.changes import ChangeCreate, ChangeOut, ChangeUpdate
from ..schemas.common import problems
from ..services import changes, web_changes
from ..services.context import Context
from .deps import RT, Viewer, csrf_guard
from .errors import PageRoute
from .pages import _planned
from .render import render

router = APIRouter(route_class=PageRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False)

FIELDS = ("title", "type", "template", "category", "release_level", "risk", "environment", "items", "description",
          "impact_analysis", "implementation_plan", "verification_plan", "rollback_script", "planned_start",
          "estimated_downtime", "version")
# Where a schema's field is shown under another name on the form.
_FORM_NAME = {"rollback_plan": "rollback_script"}
# Sentences for a person where pydantic's would quote a regular expression.
_PATTERN_SENTENCE = {"version": "not a semantic version: write MAJOR.MINOR.PATCH, e.g. 2.4.1"}


def _options(values) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


def _choices(ctx: Context) -> dict:
    return dict(type_options=_options(t.value for t in ChangeType),
                category_options=_options(c.value for c in Category),
                level_options=_options(lv.value for lv in ReleaseLevel), risk_options=_options(r.value for r in Risk),
                env_options=_options(ctx.policy.environments),
                templates_options=[(t.id, f"{t.id}: {t.title}") for t in ctx.policy.standard_changes],
                tz=ctx.policy.schedule.timezone)


def _form_page(request: Request, ctx: Context, values: dict, errors: dict[str, str], status: int = 200,
               editing: ChangeOut | None = None) -> Response:
    return render(request, "new_change.html", me=ctx.actor, values=values, errors=errors, status_code=status,
                  editing=editing, **_choices(ctx))


@router.get("/changes/new")
def new_change(request: Request, ctx: Viewer) -> Response:
    ctx.require(Permission.CHANGE_CREATE)
    return _form_page(request, ctx, {"type": "normal", "risk": "standard"}, {})


def _body(values: dict, zone: str) -> ChangeCreate:
    """The form's values as the API's ChangeCreate (empty fields left out, so defaults apply)."""
    data = {k: v for k, v in values.items() if v and k not in ("rollback_script", "items", "planned_start")}
    if values.get("items"):
        data["items"] = [i.strip() for i in re.split(r"[,\n]", values["items"]) if i.strip()]
    if values.get("rollback_script"):
        data["rollback_plan"] = {"script": values["rollback_script"]}
    if values.get("planned_start"):
        data["planned_start"] = _planned(values["planned_start"], zone)
    return ChangeCreate(**data)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for p in problems(exc):
        name = str(p.loc[0]) if p.loc else "title"
        message = _PATTERN_SENTENCE.get(name, p.message) if p.kind == "string_pattern_mismatch" else p.message
        errors.setdefault(_FORM_NAME.get(name, name), message)
    return errors


@router.post("/changes/new")
async def create_change(request: Request, ctx: Viewer, rt: RT) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "").replace("\r\n", "\n") for name in FIELDS}
    try:
        body = _body(values, ctx.policy.schedule.timezone)
    except ValidationError as exc:
        return _form_page(request, ctx, values, _field_errors(exc), 422)
    except InvalidInput as exc:
        return _form_page(request, ctx, values, {exc.field or "title": exc.message}, 422)

    def _create():
        with rt.uow() as uow:
            return changes.create_change(uow, ctx, body)

    try:
        out = await run_in_threadpool(_create)
    except InvalidInput as exc:  # the use case's own checks (unknown template, environment not allowed…)
        return _form_page(request, ctx, values, {exc.field or "title": exc.message}, 422)
    request.state.web.say(f"{out.ref} created as a draft: attach its evidence, then submit it")
    return RedirectResponse(f"/changes/{out.ref}", status_code=303)


# The fields a draft's edit changes (type, template and environment are fixed at creation).
EDITABLE = ("title", "category", "release_level", "risk", "items", "description", "impact_analysis",
            "implementation_plan", "verification_plan", "rollback_script", "planned_start", "estimated_downtime",
            "version")


def _values_of(c: ChangeOut, zone: str) -> dict[str, str]:
    """A stored change as the form's field values (planned start on the plant's clock)."""
    start = c.planned_start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M") if c.planned_start else ""
    return {
        "title": c.title, "type": c.type.value, "template": c.template or "", "environment": c.environment,
        "category": c.category.value, "release_level": c.release_level.value, "risk": c.risk.value,
        "items": ", ".join(c.items), "description": c.description, "impact_analysis": c.impact_analysis,
        "implementation_plan": c.implementation_plan, "verification_plan": c.verification_plan,
        "rollback_script": c.rollback_plan.script if c.rollback_plan else "", "planned_start": start,
        "estimated_downtime": "" if c.estimated_downtime_minutes is None else str(c.estimated_downtime_minutes),
        "version": c.version or "",
    }


def _update(values: dict, zone: str, expected_version: int | None) -> ChangeUpdate:
    """Every editable field as sent: an emptied field clears it (the use case refuses emptying a required one)."""
    data: dict = {k: values[k] or None for k in ("title", "category", "release_level", "risk", "version",
                                                  "estimated_downtime")}
    data.update({k: values[k] for k in ("description", "impact_analysis", "implementation_plan",
                                        "verification_plan")})
    data["items"] = [i.strip() for i in re.split(r"[,\n]", values["items"]) if i.strip()]
    data["rollback_plan"] = {"script": values["rollback_script"]} if values["rollback_script"] else None
    data["planned_start"] = _planned(values["planned_start"], zone)
    return ChangeUpdate(**data, expected_version=expected_version)


@router.get("/changes/{ref}/edit")
def edit_draft(request: Request, ref: str, ctx: Viewer, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        draft = web_changes.draft_to_edit(uow, ctx, ref)
    return _form_page(request, ctx, _values_of(draft, ctx.policy.schedule.timezone), {}, editing=draft)


@router.post("/changes/{ref}/edit")
async def save_draft(request: Request, ref: str, ctx: Viewer, rt: RT) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "").replace("\r\n", "\n") for name in FIELDS}
    sent_version = str(form.get("expected_version") or "")
    version = int(sent_version) if sent_version.isdigit() else None

    def _draft():
        with rt.uow(write=False) as uow:
            return web_changes.draft_to_edit(uow, ctx, ref)

    draft = await run_in_threadpool(_draft)
    values.update({k: _values_of(draft, ctx.policy.schedule.timezone)[k] for k in ("type", "template", "environment")})
    try:
        body = _update(values, ctx.policy.schedule.timezone, version)
    except ValidationError as exc:
        return _form_page(request, ctx, values, _field_errors(exc), 422, editing=draft)
    except InvalidInput as exc:
        return _form_page(request, ctx, values, {exc.field or "title": exc.message}, 422, editing=draft)

    def _save():
        with rt.uow() as uow:
            return changes.update_change(uow, ctx, ref, body)

    try:
        out = await run_in_threadpool(_save)
    except InvalidInput as exc:  # the use case's own checks (an emptied required field, unknown items…)
        return _form_page(request, ctx, values, {exc.field or "title": exc.message}, 422, editing=draft)
    request.state.web.say(f"{out.ref} saved (version {out.row_version})")
    return RedirectResponse(f"/changes/{out.ref}", status_code=303)


@router.post("/changes/{ref}/evidence")
async def attach(request: Request, ref: str, ctx: Viewer, rt: RT,
                 file: Annotated[UploadFile, File()], kind: Annotated[str, Form(max_length=32)] = "test_log",
                 description: Annotated[str, Form(max_length=10_000)] = "") -> Response:
    limit = rt.settings.max_evidence_bytes
    content = await file.read(limit + 1)  # one byte more than allowed tells "too big" without reading it all

    def _store():
        with rt.uow() as uow:
            return changes.attach_evidence(uow, ctx, ref, filename=file.filename or "", content=content,
                                           media_type=file.content_type, kind=kind, description=description,
                                           max_bytes=limit)

    stored = await run_in_threadpool(_store)
    request.state.web.say(f"{stored.filename} attached to {ref.upper()} ({stored.size} bytes, SHA-256 {stored.sha256[:12]}…)")
    return RedirectResponse(f"/changes/{ref.upper()}#h-evidence", status_code=303)

