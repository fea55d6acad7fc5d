"""Decisions with reasons: the one shape every policy, guard and gate answers in.

House rule 3: a decision says whether something is allowed and, for each
reason, a machine-readable code and a sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # stable, machine-readable: "missing_rollback_plan", "blackout", ...
    message: str  # one sentence for a person: "no rollback plan"

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @classmethod
    def allow(cls, *reasons: Reason) -> "Decision":
        return cls(True, tuple(reasons))

    @classmethod
    def deny(cls, *reasons: Reason) -> "Decision":
        return cls(False, tuple(reasons))

    @classmethod
    def from_problems(cls, problems: Iterable[Reason]) -> "Decision":
        """Allowed exactly when there is no problem; the problems become the reasons."""
        problems = tuple(problems)
        return cls(not problems, problems)

    def summary(self) -> str:
        return "; ".join(r.message for r in self.reasons)

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "reasons": [r.to_dict() for r in self.reasons]}
