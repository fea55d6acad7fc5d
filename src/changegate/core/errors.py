"""One error hierarchy for the whole product (house rule 6).

Domain errors carry no HTTP status or exit code: the adapters map them once
(api/errors.py to HTTP statuses, cli to exit codes).
"""

from __future__ import annotations

from .decisions import Reason


class ChangegateError(Exception):
    """Base of every error changegate raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, reasons: tuple[Reason, ...] = (), field: str | None = None):
        super().__init__(message)
        self.message = message
        self.reasons = tuple(reasons)
        self.field = field

    def to_dict(self) -> dict:
        body: dict = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.reasons:
            body["reasons"] = [r.to_dict() for r in self.reasons]
        return body


class InvalidInput(ChangegateError):
    """The caller sent something malformed: names the field."""

    code = "invalid_input"


class PolicyError(ChangegateError):
    """The policy file is invalid; each problem names file, line and field."""

    code = "invalid_policy"

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = tuple(problems)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "problems": list(self.problems)}


class NotFound(ChangegateError):
    code = "not_found"


class Unauthenticated(ChangegateError):
    code = "unauthenticated"


class Forbidden(ChangegateError):
    """The actor may not do this; the reasons say which rule refused."""

    code = "forbidden"


class Refused(ChangegateError):
    """A transition or action whose guards failed: the reasons say what is missing."""

    code = "refused"


class Conflict(ChangegateError):
    """The record changed meanwhile (optimistic check) or a uniqueness rule was hit."""

    code = "conflict"


class Unavailable(ChangegateError):
    """Something the operation needs is not there, e.g. a scratch database for the SQL check."""

    code = "unavailable"
