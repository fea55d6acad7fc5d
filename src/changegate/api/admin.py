"""Audit, tokens, identity and service metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from .. import __version__
from ..core.audit import parse_anchor
from ..core.policy.model import Person
from ..schemas.common import ERROR_RESPONSES, MAX_ID
from ..schemas.tokens import TokenCreated, TokenIn, TokenOut
from ..services import audit, tokens
from .deps import RT, Caller

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


@router.get("/ping", tags=["meta"])
async def ping() -> dict:
    """Liveness: answers without touching the database."""
    return {"ok": True}


@router.get("/version", tags=["meta"])
async def version() -> dict:
    return {"version": __version__}


@router.get("/me", tags=["identity"], response_model=Person)
def me(ctx: Caller) -> Person:
    return ctx.actor


@router.get("/audit/verify", tags=["audit"])
def verify_audit(ctx: Caller, rt: RT, anchor: Annotated[list[str], Query(
        max_length=20, description="SEQ:HASH kept outside the database (from /audit/head); repeatable")] = []) -> dict:
    """The chain, the anchors given, and every change record against its events; with the head."""
    anchors = [parse_anchor(a) for a in anchor]
    with rt.uow(write=False) as uow:
        return audit.verify(uow, ctx, anchors=anchors).to_dict()


@router.get("/audit/head", tags=["audit"])
def audit_head(ctx: Caller, rt: RT) -> dict:
    """The newest event's seq and hash: keep them outside the database, check them with verify?anchor=."""
    with rt.uow(write=False) as uow:
        return audit.head(uow, ctx)


@router.post("/tokens", tags=["identity"], response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, ctx: Caller, rt: RT) -> TokenCreated:
    with rt.uow() as uow:
        return tokens.create_token(uow, ctx, body.person, body.name, body.expires_at)


@router.get("/tokens", tags=["identity"], response_model=list[TokenOut])
def list_tokens(ctx: Caller, rt: RT, person: str | None = None) -> list[TokenOut]:
    with rt.uow(write=False) as uow:
        return tokens.list_tokens(uow, ctx, person)


@router.delete("/tokens/{token_id}", tags=["identity"], response_model=TokenOut)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: Caller, rt: RT) -> TokenOut:
    with rt.uow() as uow:
        return tokens.revoke_token(uow, ctx, token_id)
