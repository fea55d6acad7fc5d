"""People's web passwords through the API: what ``changegate --url … user set-password`` calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ..schemas.common import ERROR_RESPONSES
from ..schemas.passwords import PasswordIn, PasswordLinkIn, PasswordLinkOut, PasswordSetOut
from ..services import passwords
from .deps import RT, Caller

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["identity"])
PersonId = Annotated[str, Path(max_length=64)]


@router.put("/people/{person}/password", response_model=PasswordSetOut)
def set_password(person: PersonId, body: PasswordIn, ctx: Caller, rt: RT) -> PasswordSetOut:
    """Set a person's web password: your own, or anyone's with token.manage. Ends their web sessions."""
    with rt.uow() as uow:
        return passwords.set_password_for(uow, ctx, person, body)


@router.post("/people/{person}/password-link", response_model=PasswordLinkOut, status_code=201)
def create_link(person: PersonId, body: PasswordLinkIn, ctx: Caller, rt: RT) -> PasswordLinkOut:
    """A one-time set-password link's secret for a person (only its SHA-256 is stored; shown once)."""
    with rt.uow() as uow:
        return passwords.link_for(uow, ctx, person, body)
