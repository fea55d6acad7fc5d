"""REST endpoints of the change record."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from ..schemas.changes import (
    ChangeFilter,
    ApprovalIn,
    AssessIn,
    AuditEventOut,
    ChangeCreate,
    ChangeOut,
    ChangePage,
    ChangeUpdate,
    CommentIn,
    EvidenceOut,
    SignoffIn,
    TransitionIn,
)
from ..schemas.sqlcheck import SqlCheckIn
from ..services import changes, sqlcheck
from ..services.read_model import read_model
from ..schemas.common import ERROR_RESPONSES, MAX_ID, AwareDatetime, Text
from .deps import BEARER, RT, Caller, Secret, model_response, read_quick_first, runtime_of

router = APIRouter(prefix="/api/v1/changes", tags=["changes"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=ChangeOut, openapi_extra=BEARER)
async def create_change(body: ChangeCreate, secret: Secret, request: Request) -> Response:
    rt = runtime_of(request)  # the request, not the RT dependency: measured cheaper (deps.bearer_of)

    def create() -> ChangeOut:
        # The token is checked inside the writing unit of work: one thread-pool trip and one transaction
        # per creation instead of two of each (a sync Caller dependency would add its own).
        with rt.uow() as uow:
            return changes.create_change_for_token(uow, rt.policy, secret, body, rt.clock())

    return model_response(await run_in_threadpool(create), status_code=201)


@router.get("", response_model=ChangePage)
def list_changes(
    ctx: Caller,
    rt: RT,
    state: Annotated[list[str], Query()] = [],
    environment: Annotated[list[str], Query()] = [],
    type: Annotated[list[str], Query()] = [],
    requester: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in title, description or item names")] = None,
    release_level: Annotated[list[str], Query(description="release level (major, minor, patch), repeatable")] = [],
    planned_from: Annotated[AwareDatetime | None, Query(
        description="planned start at or after this instant (with its offset); leaves out changes not planned")] = None,
    planned_before: Annotated[AwareDatetime | None, Query(
        description="planned start before this instant (with its offset); leaves out changes not planned")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    # The web list's filters too (web/pages.py), through the same service; instants here, not plant days.
    f = ChangeFilter(state=state, environment=environment, type=type, requester=requester, text=q,
                     release_level=release_level, planned_from=planned_from, planned_before=planned_before,
                     limit=limit, offset=offset)
    with rt.uow(write=False) as uow:
        out = changes.list_changes(uow, ctx, f)
    return model_response(out)


@router.get("/{ref}", response_model=ChangeOut, openapi_extra=BEARER)
async def get_change(ref: str, secret: Secret, request: Request) -> Response:
    rt = runtime_of(request)  # the request, not the RT dependency: measured cheaper (deps.bearer_of)
    kept = read_model(rt.engine)
    # Kept JSON, valid while one primary-key read finds the read version unchanged (services/read_model.py);
    # on the loop: that read is all it costs (on PostgreSQL, asynchronous and shared by concurrent requests).
    body = kept.change_json(await kept.version(), rt.policy, secret, ref, rt.clock())
    if body is None:
        # One indexed statement (token, change, version); where it runs (loop or pool) is deps.read's choice.
        def view(quick_only: bool) -> bytes | None:
            with rt.uow(write=False) as uow:
                return changes.read_change_json(uow, rt.policy, secret, ref, rt.clock(), quick_only=quick_only,
                                                kept=kept)

        body = await read_quick_first(rt, view)
    return Response(body, media_type="application/json")


@router.patch("/{ref}", response_model=ChangeOut)
def update_change(ref: str, body: ChangeUpdate, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.update_change(uow, ctx, ref, body)
    return model_response(out)


@router.post("/{ref}/transitions", response_model=ChangeOut)
def transition(ref: str, body: TransitionIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.transition(uow, ctx, ref, body)
    return model_response(out)


@router.post("/{ref}/assessment", response_model=ChangeOut)
def assess(ref: str, body: AssessIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.assess(uow, ctx, ref, body)
    return model_response(out)


@router.post("/{ref}/approvals", response_model=ChangeOut)
def decide_approval(ref: str, body: ApprovalIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.decide_approval(uow, ctx, ref, body)
    return model_response(out)


@router.post("/{ref}/uat-signoff", response_model=ChangeOut)
def sign_off_uat(ref: str, body: SignoffIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.sign_off_uat(uow, ctx, ref, body.note)
    return model_response(out)


@router.post("/{ref}/comments", response_model=ChangeOut, status_code=201)
def add_comment(ref: str, body: CommentIn, ctx: Caller, rt: RT) -> Response:
    with rt.uow() as uow:
        out = changes.add_comment(uow, ctx, ref, body)
    return model_response(out, status_code=201)


@router.post("/{ref}/evidence", response_model=EvidenceOut, status_code=201)
async def attach_evidence(
    ref: str,
    ctx: Caller,
    rt: RT,
    file: Annotated[UploadFile, File(description="log, screenshot or report")],
    kind: Annotated[str, Form()] = "test_log",
    description: Annotated[Text, Form(max_length=10_000)] = "",
) -> EvidenceOut:
    limit = rt.settings.max_evidence_bytes
    content = await file.read(limit + 1)  # one byte more than allowed tells "too big" without reading it all
    def _store() -> EvidenceOut:
        with rt.uow() as uow:
            return changes.attach_evidence(uow, ctx, ref, filename=file.filename or "", content=content,
                                           media_type=file.content_type, kind=kind, description=description,
                                           max_bytes=limit)

    return await run_in_threadpool(_store)


@router.get("/{ref}/evidence/{evidence_id}", response_class=Response)
def download_evidence(ref: str, evidence_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: Caller, rt: RT) -> Response:
    with rt.uow(write=False) as uow:
        meta, content = changes.evidence_content(uow, ctx, ref, evidence_id)
    return Response(content, media_type=meta.media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(meta.filename)}",
        "X-Content-SHA256": meta.sha256,
    })


@router.post("/{ref}/sql-check", response_model=dict)
def sql_check(ref: str, body: SqlCheckIn, ctx: Caller, rt: RT) -> dict:
    """Prove the change's SQL scripts idempotent and reversible on a scratch database; keep the result
    (and the scripts) as evidence, keyed by the scripts' SHA-256, for the gate."""
    return sqlcheck.check_and_attach(rt.uow, ctx, ref, body, max_bytes=rt.settings.max_evidence_bytes)


@router.get("/{ref}/history", response_model=list[AuditEventOut])
def history(ref: str, ctx: Caller, rt: RT) -> list[AuditEventOut]:
    with rt.uow(write=False) as uow:
        return changes.history(uow, ctx, ref)
