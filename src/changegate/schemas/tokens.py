from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from .common import AwareDatetime, Out, Strict, Text


class TokenIn(Strict):
    person: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[Text, StringConstraints(min_length=1, max_length=100)]
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
