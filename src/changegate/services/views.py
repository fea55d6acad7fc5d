"""From stored record to what the rules read (facts) and what callers see (views)."""

from __future__ import annotations

from ..core.changes.approvals import approval_status
from ..core.changes.entities import (
    ApprovalDecision,
    ApprovalFacts,
    Category,
    ChangeFacts,
    ChangeType,
    ReleaseLevel,
    Risk,
    State,
    format_ref,
)
from ..core.changes.lifecycle import available_actions, emergency_status
from ..db.models import Change
from ..schemas.changes import (
    ApprovalOut,
    ApprovalSummary,
    ChangeOut,
    ChangeSummaryOut,
    CommentOut,
    EvidenceOut,
    RollbackPlanOut,
    UatSignoffOut,
)
from .context import Context


def facts_of(change: Change) -> ChangeFacts:
    return ChangeFacts(
        ref=format_ref(change.id),
        type=ChangeType(change.type),
        category=Category(change.category),
        release_level=ReleaseLevel(change.release_level),
        risk=Risk(change.risk),
        environment=change.environment,
        state=State(change.state),
        requester=change.requester,
        title=change.title,
        description=change.description,
        items=tuple(i.name for i in change.items),
        impact_analysis=change.impact_analysis,
        implementation_plan=change.implementation_plan,
        verification_plan=change.verification_plan,
        rollback_script=change.rollback_script,
        planned_start=change.planned_start,
        estimated_downtime_minutes=change.estimated_downtime_minutes,
        evidence_count=len(change.evidence),
        uat_signed_off=change.uat_signoff_at is not None,
        approvals=tuple(
            ApprovalFacts(a.role, a.approver, ApprovalDecision(a.decision), a.created_at) for a in change.approvals
        ),
        implemented_at=change.implemented_at,
        retro_approval_due=change.retro_approval_due,
    )


# The fields an audit event records before and after (content, not bookkeeping).
_SNAPSHOT_FIELDS = (
    "title", "description", "type", "category", "release_level", "risk", "environment", "state", "requester",
    "template_id", "version_label", "impact_analysis", "implementation_plan", "verification_plan",
    "readiness_analysis", "risk_analysis", "emergency_plan", "rollback_script", "rollback_interpreter",
    "estimated_downtime_minutes", "uat_signoff_by",
)
# Every column snapshot() reads of the row: what `audit verify` loads to rebuild a snapshot's text.
SNAPSHOT_COLUMNS = (*_SNAPSHOT_FIELDS, "planned_start", "row_version")


def snapshot(change: Change) -> dict:
    data = {name: getattr(change, name) for name in _SNAPSHOT_FIELDS}
    data["planned_start"] = change.planned_start.isoformat() if change.planned_start else None
    data["items"] = [i.name for i in change.items]
    data["row_version"] = change.row_version  # lets `audit verify` reconcile the version too
    return data


def _summary_fields(ctx: Context, change: Change, facts: ChangeFacts) -> dict:
    return dict(
        id=change.id, ref=facts.ref, title=change.title, type=facts.type, category=facts.category,
        release_level=facts.release_level, risk=facts.risk, environment=change.environment, state=facts.state,
        requester=change.requester, items=list(facts.items), planned_start=change.planned_start,
        estimated_downtime_minutes=change.estimated_downtime_minutes,
        emergency_status=emergency_status(facts, ctx.policy, ctx.now), updated_at=change.updated_at,
    )


def change_summary_out(ctx: Context, change: Change) -> ChangeSummaryOut:
    # Summaries skip approvals/evidence loading: emergency status needs approvals only for emergencies.
    return ChangeSummaryOut(**_summary_fields(ctx, change, facts_of(change)))


def change_out(ctx: Context, change: Change, *, schedule_problems: list[str] | None = None) -> ChangeOut:
    facts = facts_of(change)
    status = approval_status(ctx.policy, facts)
    return ChangeOut(
        **_summary_fields(ctx, change, facts),
        description=change.description,
        template=change.template_id,
        version=change.version_label,
        impact_analysis=change.impact_analysis,
        implementation_plan=change.implementation_plan,
        verification_plan=change.verification_plan,
        readiness_analysis=change.readiness_analysis,
        risk_analysis=change.risk_analysis,
        emergency_plan=change.emergency_plan,
        rollback_plan=RollbackPlanOut(script=change.rollback_script, interpreter=change.rollback_interpreter)
        if change.rollback_script else None,
        uat_signoff=UatSignoffOut(by=change.uat_signoff_by, at=change.uat_signoff_at, note=change.uat_signoff_note)
        if change.uat_signoff_at else None,
        implemented_at=change.implemented_at,
        retro_approval_due=change.retro_approval_due,
        closed_at=change.closed_at,
        created_at=change.created_at,
        row_version=change.row_version,
        approval=ApprovalSummary(required=list(status.required), missing=list(status.missing),
                                 complete=status.complete),
        approvals=[ApprovalOut.model_validate(a) for a in change.approvals],
        evidence=[EvidenceOut.model_validate(e) for e in change.evidence],
        comments=[CommentOut.model_validate(c) for c in change.comments],
        available_actions=[a.value for a in available_actions(facts)],
        schedule_problems=schedule_problems or [],
    )
