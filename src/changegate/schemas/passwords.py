"""Boundary models of web passwords set through the API (``changegate --url … user set-password``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from .common import Out, Strict, Text

# services/passwords.py checks the shape (at least 12 characters); this only caps what is read.
MAX_PASSWORD_LENGTH = 1024


class PasswordIn(Strict):
    password: Annotated[Text, StringConstraints(max_length=MAX_PASSWORD_LENGTH)]


class PasswordLinkIn(Strict):
    valid_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60, description="how long the link stays valid")


class PasswordSetOut(Out):
    person: str


class PasswordLinkOut(Out):
    person: str
    secret: str = Field(description="the link's secret, shown once: BASE/set-password/SECRET")
    expires_at: datetime
