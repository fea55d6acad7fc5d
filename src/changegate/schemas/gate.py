from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from .common import AwareDatetime, Line, Out, Strict


class GateIn(Strict):
    environment: Line(64)
    at: AwareDatetime | None = None


class RuleResultOut(Out):
    rule: str
    status: str  # pass | fail | not_assessed
    message: str


class GateOut(Out):
    change: str
    environment: str
    at: datetime
    allowed: bool
    results: list[RuleResultOut]
    # The plant's wall clock (the environment's time zone) beside UTC.
    timezone: str | None = None
    local_at: datetime | None = None

    @classmethod
    def from_verdict(cls, verdict, at: datetime, timezone: str | None = None) -> "GateOut":
        local_at = at.astimezone(ZoneInfo(timezone)) if timezone else None
        return cls(change=verdict.change, environment=verdict.environment, at=at, allowed=verdict.allowed,
                   results=[RuleResultOut(**r.to_dict()) for r in verdict.results], timezone=timezone,
                   local_at=local_at)
