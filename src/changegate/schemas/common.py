"""Shared pieces of the boundary models (API bodies, CLI JSON).

Every string a caller sends goes through one of the text types below, so a NUL byte (which PostgreSQL's
text cannot hold), an unpaired surrogate (which UTF-8 cannot encode) or an invisible control character
(which makes a title read differently from what it is) is refused at the boundary, naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

from ..core.policy.durations import parse_minutes

# C0/C1 controls except tab, newline and carriage return, DEL, and lone surrogates. A regex, not a
# loop over characters: scripts of several megabytes pass through here.
_UNSTORABLE_OR_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def char_name(ch: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': the code point, and its name where Unicode gives one."""
    category = unicodedata.category(ch)
    fallback = {"Cc": "control character", "Cs": "unpaired surrogate"}.get(category, "invisible character")
    return f"U+{ord(ch):04X} {unicodedata.name(ch, fallback.upper() if category == 'Cf' else fallback)}"


def _refuse(value: str, position: int) -> None:
    raise ValueError(f"contains {char_name(value[position])} at position {position}")


def _clean_text(value: str) -> str:
    """Multi-line text (descriptions, plans, comments, scripts): tab, newline and CR are fine."""
    bad = _UNSTORABLE_OR_CONTROL.search(value)
    if bad:
        _refuse(value, bad.start())
    return value


def _clean_line(value: str) -> str:
    """A name, title, item or role: no control character at all, and no invisible format character
    (bidirectional overrides, zero-width spaces) that would make it read as something else. Blank after
    stripping is refused: a title of spaces is no title."""
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            _refuse(value, i)
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _clean_reason(value: str) -> str:
    """A reason or note: may span lines and may be empty, but holds no invisible format character."""
    _clean_text(value)
    for i, ch in enumerate(value):
        if unicodedata.category(ch) == "Cf":
            _refuse(value, i)
    return value.strip()


def _clean_required_reason(value: str) -> str:
    value = _clean_reason(value)
    if not value:
        raise ValueError("must not be blank")
    return value


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _datetime_string(value: Any) -> Any:
    # pydantic would read 0 or "0.5" as seconds since 1970: a date-time must be written as one.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 date-time with an offset, e.g. 2026-12-01T09:00:00+01:00 or ...Z")
    return value


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset: add one, e.g. 2026-12-01T09:00:00+01:00 or ...Z")
    return value.astimezone(timezone.utc)


def _minutes(value: str | int) -> int:
    return parse_minutes(value)


MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL

Text = Annotated[str, AfterValidator(_clean_text)]  # multi-line free text
AwareDatetime = Annotated[datetime, BeforeValidator(_datetime_string), AfterValidator(aware)]
Minutes = Annotated[str | int, AfterValidator(_minutes)]


def Line(max_length: int = 200) -> Any:  # noqa: N802 - used like a type: ``title: Line(200)``
    """A required single-line name (title, item, environment, role, person): stripped, never blank."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_clean_line)]


def Reason(max_length: int = 10_000, *, required: bool = False) -> Any:  # noqa: N802
    """A reason or note: may span lines; empty only when not required; holds no invisible character."""
    check = _clean_required_reason if required else _clean_reason
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(check)]


# --- validation errors as sentences: the one translator the API, the CLI and the policy loader share ---

_REQUEST_PARTS = ("body", "query", "path", "header", "form", "cookie")


class Problem(NamedTuple):
    """One validation error: where (``loc`` as pydantic gives it, ``field`` dotted) and what, in words."""

    loc: tuple
    field: str
    message: str
    kind: str  # pydantic's error type, e.g. "missing", "json_invalid"


def _sentence(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind == "json_invalid":  # loc ends with the character offset where the JSON broke
        return f"malformed JSON at character {err['loc'][-1]}: {err.get('ctx', {}).get('error', err.get('msg'))}"
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def problems(errors: ValidationError | list[dict], *, from_request: bool = False) -> list[Problem]:
    """Every error of a pydantic ``ValidationError`` (or its ``errors()`` list) as a field and a sentence.
    ``from_request``: FastAPI's errors start with the request part ("body", "query"…), not a field name."""
    out = []
    for err in errors.errors() if isinstance(errors, ValidationError) else errors:
        loc = tuple(err.get("loc", ()))
        if from_request and loc and loc[0] in _REQUEST_PARTS:
            loc = loc[1:]
        kind = err.get("type", "")
        field = "body" if kind == "json_invalid" else ".".join(str(p) for p in loc)
        out.append(Problem(loc=loc, field=field, message=_sentence(err), kind=kind))
    return out


def one_sentence(errors: ValidationError | list[dict]) -> tuple[str, str]:
    """The first problem as ("field: what is wrong", field): for one-line errors (CLI, query models)."""
    first = problems(errors)[0]
    return f"{first.field}: {first.message}", first.field


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
        405: "Method not allowed: the Allow header lists the methods",
        409: "Refused transition (everything missing) or changed meanwhile",
        413: "Request body larger than the server's limit",
        422: "Invalid input: names the field",
        503: "The database is busy, or no scratch database for the SQL check",
    }.items()
}
