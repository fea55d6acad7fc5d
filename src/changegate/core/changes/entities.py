"""The change request (RFC) as the core sees it: vocabulary and a read-only view.

The enums use the seeds' words: type (seed 000/ITIL), category (seed 002),
release level (seed 000's semantic-versioning classes), risk (seed 002's impact
levels). ``ChangeFacts`` is what the lifecycle, approval and gate rules read;
services build it from the stored record, so the core never touches storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChangeType(StrEnum):
    STANDARD = "standard"  # pre-approved, repeatable, from a template
    NORMAL = "normal"
    EMERGENCY = "emergency"  # may run first, approved retroactively


class Category(StrEnum):
    HARDWARE = "hardware"
    SOFTWARE_CONFIGURATION = "software_configuration"
    APPLICATION = "application"
    DATA = "data"
    TRAFFIC = "traffic"


class ReleaseLevel(StrEnum):
    PATCH = "patch"  # bug fix, invisible to the user
    MINOR = "minor"  # new feature, backward compatible, no downtime
    MAJOR = "major"  # breaking, downtime and operator retraining


class Risk(StrEnum):
    STANDARD = "standard"
    IMPORTANT = "important"
    URGENT = "urgent"
    CRITICAL = "critical"


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSESSED = "assessed"
    AUTHORIZED = "authorized"
    SCHEDULED = "scheduled"
    IMPLEMENTING = "implementing"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({State.COMPLETED, State.ROLLED_BACK, State.REJECTED, State.CANCELLED})


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class EmergencyStatus(StrEnum):
    """Where an emergency change stands with its retroactive approval."""

    NOT_EMERGENCY = "not_emergency"
    PENDING = "pending"  # still inside the deadline
    OVERDUE = "overdue"  # deadline passed without every approval
    APPROVED = "approved"
    REJECTED = "rejected"
    NOT_REQUIRED = "not_required"  # cancelled or rejected before it ever ran


def format_ref(change_id: int) -> str:
    return f"CHG-{change_id}"


@dataclass(frozen=True, slots=True)
class ApprovalFacts:
    role: str
    approver: str
    decision: ApprovalDecision
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangeFacts:
    """Everything the rules need to know about one change, and nothing they may change."""

    ref: str
    type: ChangeType
    category: Category
    release_level: ReleaseLevel
    risk: Risk
    environment: str
    state: State
    requester: str
    title: str = ""
    description: str = ""
    items: tuple[str, ...] = ()
    impact_analysis: str = ""
    implementation_plan: str = ""
    verification_plan: str = ""
    rollback_script: str = ""
    planned_start: datetime | None = None
    estimated_downtime_minutes: int | None = None
    evidence_count: int = 0
    uat_signed_off: bool = False
    approvals: tuple[ApprovalFacts, ...] = field(default_factory=tuple)
    implemented_at: datetime | None = None
    retro_approval_due: datetime | None = None
