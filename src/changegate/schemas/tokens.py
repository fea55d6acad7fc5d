from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from .common import AwareDatetime, Line, Out, Strict


class TokenIn(Strict):
    person: Line(64)
    name: Line(100)
    expires_at: AwareDatetime | None = None


class TokenOut(Out):
    id: int
    person_id: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    secret: str  # shown once; only its SHA-256 is stored
