"""Shared pieces of the boundary models (API bodies, CLI JSON)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from ..core.policy.durations import parse_minutes


def _clean_text(value: str) -> str:
    # NUL and other C0 controls (but tab/newline/CR) corrupt logs and PostgreSQL refuses NUL.
    for i, ch in enumerate(value):
        if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\x7f":
            raise ValueError(f"contains control character U+{ord(ch):04X} at position {i}")
    return value


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. 2026-12-01T09:00:00+01:00 or ...Z")
    return value.astimezone(timezone.utc)


def _minutes(value: str | int) -> int:
    return parse_minutes(value)


MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL

Text = Annotated[str, AfterValidator(_clean_text)]
AwareDatetime = Annotated[datetime, AfterValidator(aware)]
Minutes = Annotated[str | int, AfterValidator(_minutes)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ReasonOut(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error response: what went wrong, where, and each reason."""

    error: str
    message: str
    field: str | None = None
    reasons: list[ReasonOut] | None = None
    problems: list[str] | None = None
    errors: list[dict] | None = None


ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "Unreadable request body",
        401: "No or bad API token",
        403: "Not allowed: the reasons name the rule",
        404: "No such change, evidence or token",
        409: "Refused transition (everything missing) or changed meanwhile",
        422: "Invalid input: names the field",
        503: "The database is busy, or no scratch database for the SQL check",
    }.items()
}
