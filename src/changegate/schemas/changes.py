"""Boundary models of the change record: what callers send and what they get back.

The API and the CLI (local or remote) both speak these, so a change looks the
same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from ..core.changes.entities import (
    ApprovalDecision,
    Category,
    ChangeType,
    EmergencyStatus,
    ReleaseLevel,
    Risk,
    State,
)
from ..core.errors import InvalidInput
from .cmdb import ImpactSummaryOut
from .common import AwareDatetime, Line, Minutes, Out, Reason, Strict, Text, not_blank

Title = Line(200)
LongText = Annotated[Text, StringConstraints(max_length=100_000)]
ItemName = Line(200)
Name64 = Line(64)  # environment, role, person and template ids
SemVer = Annotated[str, StringConstraints(pattern=r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")]


class RollbackPlanIn(Strict):
    script: Annotated[Text, StringConstraints(max_length=1_000_000)]
    interpreter: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,64}$")] = "sh"


class ChangeCreate(Strict):
    title: Title
    description: LongText = ""
    type: ChangeType = ChangeType.NORMAL
    category: Category | None = None
    release_level: ReleaseLevel | None = None
    risk: Risk = Risk.STANDARD
    environment: Name64
    template: Name64 | None = Field(default=None, description="Standard change template id (type must be standard)")
    items: list[ItemName] = Field(default_factory=list, max_length=1000)
    impact_analysis: LongText = ""
    planned_start: AwareDatetime | None = None
    estimated_downtime: Minutes | None = Field(default=None, description="minutes, or e.g. '90m', '1h30m'")
    implementation_plan: LongText = ""
    verification_plan: LongText = ""
    rollback_plan: RollbackPlanIn | None = None
    version: SemVer | None = None


class ChangeUpdate(Strict):
    """Fields to change on a draft; absent fields stay as they are."""

    title: Title | None = None
    description: LongText | None = None
    category: Category | None = None
    release_level: ReleaseLevel | None = None
    risk: Risk | None = None
    items: list[ItemName] | None = Field(default=None, max_length=1000)
    impact_analysis: LongText | None = None
    planned_start: AwareDatetime | None = None
    estimated_downtime: Minutes | None = None
    implementation_plan: LongText | None = None
    verification_plan: LongText | None = None
    rollback_plan: RollbackPlanIn | None = None
    version: SemVer | None = None
    expected_version: int | None = Field(default=None, description="row_version you read; 409 if it changed")


class TransitionIn(Strict):
    action: Literal["submit", "withdraw", "schedule", "reschedule", "unschedule", "start", "complete", "fail",
                    "roll_back", "cancel", "reject"]
    reason: Reason() = ""
    planned_start: AwareDatetime | None = Field(default=None, description="for schedule/reschedule")
    override_reason: Reason() = Field(
        default="", description="emergency changes: why an overridable blackout may be overridden")
    expected_version: int | None = None


class AssessIn(Strict):
    risk: Risk | None = None
    readiness_analysis: LongText = ""
    risk_analysis: LongText = ""
    emergency_plan: LongText = ""
    reason: Reason() = ""
    expected_version: int | None = None


class ApprovalIn(Strict):
    role: Name64
    decision: ApprovalDecision = ApprovalDecision.APPROVED
    reason: Reason() = ""
    expected_version: int | None = None


class SignoffIn(Strict):
    note: Reason() = ""


class CommentIn(Strict):
    body: Annotated[Text, StringConstraints(max_length=50_000), AfterValidator(not_blank)]


class ApprovalOut(Out):
    role: str
    approver: str
    decision: ApprovalDecision
    reason: str
    retroactive: bool
    created_at: datetime


class EvidenceOut(Out):
    id: int
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    description: str
    uploaded_by: str
    uploaded_at: datetime


class CommentOut(Out):
    id: int
    author: str
    body: str
    created_at: datetime


class RollbackPlanOut(Out):
    script: str
    interpreter: str


class UatSignoffOut(Out):
    by: str
    at: datetime
    note: str


class ApprovalSummary(Out):
    required: list[str]
    missing: list[str]
    complete: bool


class ChangeSummaryOut(Out):
    id: int
    ref: str
    title: str
    type: ChangeType
    category: Category
    release_level: ReleaseLevel
    risk: Risk
    environment: str
    state: State
    requester: str
    items: list[str]
    planned_start: datetime | None
    estimated_downtime_minutes: int | None
    emergency_status: EmergencyStatus
    updated_at: datetime


class ChangeOut(ChangeSummaryOut):
    description: str
    template: str | None
    version: str | None
    impact_analysis: str
    implementation_plan: str
    verification_plan: str
    readiness_analysis: str
    risk_analysis: str
    emergency_plan: str
    rollback_plan: RollbackPlanOut | None
    uat_signoff: UatSignoffOut | None
    implemented_at: datetime | None
    retro_approval_due: datetime | None
    closed_at: datetime | None
    created_at: datetime
    row_version: int
    approval: ApprovalSummary
    approvals: list[ApprovalOut]
    evidence: list[EvidenceOut]
    comments: list[CommentOut]
    available_actions: list[str]
    schedule_problems: list[str] = Field(default_factory=list,
                                         description="why a scheduled slot is no longer valid (e.g. a new freeze)")
    impact: ImpactSummaryOut | None = Field(default=None, description="the CMDB impact in brief (None: no CMDB); "
                                                                      "paths in GET /changes/{ref}/impact")


class ChangePage(Out):
    items: list[ChangeSummaryOut]
    total: int
    limit: int
    offset: int


class AuditEventOut(Out):
    seq: int
    at: str
    actor: str
    action: str
    entity: str
    before: dict
    after: dict
    detail: dict
    hash: str


@dataclass(frozen=True)
class ChangeFilter:
    """What a change listing asks for: filters, text search and a page."""

    state: tuple[str, ...] | list[str] = ()
    environment: tuple[str, ...] | list[str] = ()
    type: tuple[str, ...] | list[str] = ()
    requester: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0
    release_level: tuple[str, ...] | list[str] = ()
    # Planned start in [planned_from, planned_before); a change with no planned start is left out once either is set.
    planned_from: datetime | None = None
    planned_before: datetime | None = None

    def __post_init__(self) -> None:
        # A misspelt filter value would match nothing and look like "no such changes": refuse it instead.
        for field, known in (("state", State), ("type", ChangeType), ("release_level", ReleaseLevel)):
            refuse_unknown(field, getattr(self, field), [k.value for k in known])

    def refuse_unknown_environments(self, known: Iterable[str]) -> None:
        refuse_unknown("environment", self.environment, list(known))


def refuse_unknown(field: str, values: Iterable[str], known: list[str]) -> None:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidInput(f"{field}: unknown value {unknown[0]!r} (known: {', '.join(known)})", field=field)
