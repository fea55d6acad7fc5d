"""Boundary models of the schedule: slots, explanations, freezes, conflicts, the calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from .common import AwareDatetime, Line, Minutes, Out, Reason, Strict


class ReasonOut(Out):
    code: str
    message: str


class WindowOut(Out):
    name: str
    timezone: str
    start: datetime
    end: datetime
    local_start: str
    local_end: str


class SlotOut(Out):
    """A schedule verdict: allowed or not, every reason, and the slot and window when there is one."""

    environment: str
    allowed: bool
    start: datetime | None
    end: datetime | None
    window: WindowOut | None
    reasons: list[ReasonOut]
    # The plant's wall clock (the environment's time zone) beside UTC: what people on site read.
    timezone: str | None = None
    local_start: datetime | None = None
    local_end: datetime | None = None


class SlotQuery(Strict):
    environment: Line(64)
    duration: Minutes
    after: AwareDatetime | None = None
    change: Line(64) | None = Field(default=None, description="CHG-n: use its items, type, and avoid conflicting slots")
    items: list[Line(200)] = Field(default_factory=list, max_length=1000)
    emergency: bool = False


class ExplainQuery(Strict):
    environment: Line(64)
    at: AwareDatetime
    duration: Minutes
    items: list[Line(200)] = Field(default_factory=list, max_length=1000)
    emergency: bool = False


class FreezeIn(Strict):
    name: Line(100)
    start: AwareDatetime
    end: AwareDatetime
    reason: Reason(required=True)
    environments: list[Line(64)] = Field(default_factory=list, max_length=100)
    items: list[Line(200)] = Field(default_factory=list, max_length=1000)
    emergency_override: bool = False


class FreezeOut(Out):
    id: int
    name: str
    start: datetime
    end: datetime
    reason: str
    environments: list[str]
    items: list[str]
    emergency_override: bool
    created_by: str
    created_at: datetime
    lifted_at: datetime | None


class FreezeCreated(FreezeOut):
    affected_changes: list[str]  # scheduled changes whose slot the freeze now blocks


class LiftIn(Strict):
    reason: Reason(required=True)


class ConflictOut(Out):
    change: str
    other: str
    items: list[str]
    start: datetime
    end: datetime
    accepted: bool
    through: list[str] = Field(default_factory=list, description="a conflict through dependencies (CMDB): the "
                                                                 "paths, e.g. 'line-3 ← mes-core ← db-mes-prod'")


class AcceptConflictIn(Strict):
    other: Line(64)
    reason: Reason(required=True)


class CalendarEntryOut(Out):
    kind: str  # window | blackout | change
    name: str
    rule: str
    environment: str
    start: datetime
    end: datetime
    timezone: str
    emergency_override: bool = False
    description: str = ""
    change: str | None = None
    state: str | None = None


class CalendarOut(Out):
    start: datetime
    end: datetime
    entries: list[CalendarEntryOut]
    conflicts: list[ConflictOut]
