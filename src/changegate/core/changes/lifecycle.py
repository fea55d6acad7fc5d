"""The change lifecycle as a table (house rule 2).

``TRANSITIONS`` lists every legal move; ``apply`` is the only function that
decides a new state. It checks the move exists for the change's type and state,
runs the guards for the action, and returns the new state with the audit facts,
or a refusal that says everything that is missing at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .approvals import approval_status
from .entities import ChangeFacts, ChangeType, EmergencyStatus, State
from ..decisions import Decision, Reason
from ..policy.model import Policy


class Action(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    ASSESS = "assess"
    AUTHORIZE = "authorize"  # taken by the system when the last required approval lands
    REJECT = "reject"
    SCHEDULE = "schedule"
    RESCHEDULE = "reschedule"
    UNSCHEDULE = "unschedule"
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    ROLL_BACK = "roll_back"
    CANCEL = "cancel"


_ALL = frozenset(ChangeType)
_APPROVED_TYPES = frozenset({ChangeType.NORMAL, ChangeType.EMERGENCY})
_OPEN = (State.DRAFT, State.SUBMITTED, State.ASSESSED, State.AUTHORIZED, State.SCHEDULED)


@dataclass(frozen=True, slots=True)
class Transition:
    source: State
    action: Action
    target: State
    types: frozenset[ChangeType]


_ROWS: tuple[Transition, ...] = (
    # Normal and emergency changes go through review; a standard change is
    # pre-approved by its template, so submitting it authorizes it.
    Transition(State.DRAFT, Action.SUBMIT, State.SUBMITTED, _APPROVED_TYPES),
    Transition(State.DRAFT, Action.SUBMIT, State.AUTHORIZED, frozenset({ChangeType.STANDARD})),
    Transition(State.SUBMITTED, Action.WITHDRAW, State.DRAFT, _APPROVED_TYPES),
    Transition(State.SUBMITTED, Action.ASSESS, State.ASSESSED, _APPROVED_TYPES),
    Transition(State.ASSESSED, Action.AUTHORIZE, State.AUTHORIZED, _APPROVED_TYPES),
    Transition(State.SUBMITTED, Action.REJECT, State.REJECTED, _APPROVED_TYPES),
    Transition(State.ASSESSED, Action.REJECT, State.REJECTED, _APPROVED_TYPES),
    Transition(State.AUTHORIZED, Action.SCHEDULE, State.SCHEDULED, _ALL),
    Transition(State.SCHEDULED, Action.RESCHEDULE, State.SCHEDULED, _ALL),
    Transition(State.SCHEDULED, Action.UNSCHEDULE, State.AUTHORIZED, _ALL),
    Transition(State.SCHEDULED, Action.START, State.IMPLEMENTING, _ALL),
    # Emergency changes may be implemented before authorization (retroactive approval).
    Transition(State.SUBMITTED, Action.START, State.IMPLEMENTING, frozenset({ChangeType.EMERGENCY})),
    Transition(State.ASSESSED, Action.START, State.IMPLEMENTING, frozenset({ChangeType.EMERGENCY})),
    Transition(State.AUTHORIZED, Action.START, State.IMPLEMENTING, frozenset({ChangeType.EMERGENCY})),
    Transition(State.IMPLEMENTING, Action.COMPLETE, State.COMPLETED, _ALL),
    Transition(State.IMPLEMENTING, Action.FAIL, State.FAILED, _ALL),
    Transition(State.IMPLEMENTING, Action.ROLL_BACK, State.ROLLED_BACK, _ALL),
    Transition(State.FAILED, Action.ROLL_BACK, State.ROLLED_BACK, _ALL),
    *(Transition(s, Action.CANCEL, State.CANCELLED, _ALL) for s in _OPEN),
)

TRANSITIONS: dict[tuple[ChangeType, State, Action], State] = {
    (t, row.source, row.action): row.target for row in _ROWS for t in row.types
}

# Actions whose audit record must say why.
ACTIONS_NEEDING_REASON = frozenset({Action.REJECT, Action.CANCEL, Action.FAIL, Action.ROLL_BACK, Action.WITHDRAW})


def available_actions(change: ChangeFacts) -> list[Action]:
    """The actions the table allows from the change's state (guards not yet run)."""
    return [a for (t, s, a) in TRANSITIONS if t == change.type and s == change.state and a != Action.AUTHORIZE]


@dataclass(frozen=True, slots=True)
class TransitionResult:
    decision: Decision
    source: State
    target: State | None  # None when refused

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def _submit_problems(change: ChangeFacts) -> list[Reason]:
    """Seed 000: every ticket holds impact analysis, test evidence, rollback plan and timing."""
    problems: list[Reason] = []
    if not change.title.strip():
        problems.append(Reason("missing_title", "no title"))
    if change.type is ChangeType.STANDARD:
        # The template supplies the plans; the requester still owes the timing.
        if change.planned_start is None:
            problems.append(Reason("missing_planned_start", "no planned start"))
        return problems
    if not change.impact_analysis.strip():
        problems.append(Reason("missing_impact_analysis", "no impact analysis"))
    if not change.items:
        problems.append(Reason("missing_items", "no configuration items named"))
    if not change.rollback_script.strip():
        problems.append(Reason("missing_rollback_plan", "no rollback plan"))
    if not change.implementation_plan.strip():
        problems.append(Reason("missing_implementation_plan", "no implementation plan"))
    if change.planned_start is None:
        problems.append(Reason("missing_planned_start", "no planned start"))
    if change.estimated_downtime_minutes is None:
        problems.append(Reason("missing_downtime", "no estimated downtime"))
    # An emergency may bring its evidence afterwards; a normal change may not.
    if change.type is ChangeType.NORMAL and change.evidence_count == 0:
        problems.append(Reason("missing_test_evidence", "no test evidence"))
    return problems


def _assess_problems(change: ChangeFacts) -> list[Reason]:
    problems = []
    if not change.verification_plan.strip():
        problems.append(Reason("missing_verification_plan", "no verification plan"))
    if not change.implementation_plan.strip():
        problems.append(Reason("missing_implementation_plan", "no implementation plan"))
    return problems


def _authorize_problems(change: ChangeFacts, policy: Policy) -> list[Reason]:
    status = approval_status(policy, change)
    return [Reason("missing_approval", f"no approval from {role}") for role in status.missing] + [
        Reason("approval_rejected", f"rejected by {a.approver} as {a.role}") for a in status.rejections
    ]


def _schedule_problems(change: ChangeFacts) -> list[Reason]:
    problems = []
    if change.planned_start is None:
        problems.append(Reason("missing_planned_start", "no planned start"))
    if change.estimated_downtime_minutes is None:
        problems.append(Reason("missing_downtime", "no estimated downtime"))
    return problems


def apply(
    change: ChangeFacts,
    action: Action,
    policy: Policy,
    *,
    reason: str = "",
    schedule_decision: Decision | None = None,
) -> TransitionResult:
    """Decide whether ``action`` may move ``change`` and to which state.

    ``schedule_decision`` is the schedule's verdict on the planned slot, computed
    by the caller for SCHEDULE and RESCHEDULE.
    """
    target = TRANSITIONS.get((change.type, change.state, action))
    if target is None:
        legal = ", ".join(a.value for a in available_actions(change)) or "none"
        return TransitionResult(
            Decision.deny(
                Reason(
                    "illegal_transition",
                    f"a {change.type.value} change in state {change.state.value} cannot {action.value} "
                    f"(possible: {legal})",
                )
            ),
            change.state,
            None,
        )
    problems: list[Reason] = []
    if action in ACTIONS_NEEDING_REASON and not reason.strip():
        problems.append(Reason("missing_reason", f"a reason is required to {action.value.replace('_', ' ')}"))
    if action is Action.SUBMIT:
        problems += _submit_problems(change)
    elif action is Action.ASSESS:
        problems += _assess_problems(change)
    elif action is Action.AUTHORIZE:
        problems += _authorize_problems(change, policy)
    elif action in (Action.SCHEDULE, Action.RESCHEDULE):
        problems += _schedule_problems(change)
        if schedule_decision is not None and not schedule_decision.allowed:
            problems += schedule_decision.reasons
    decision = Decision.from_problems(problems)
    return TransitionResult(decision, change.state, target if decision.allowed else None)


def refusal_message(change: ChangeFacts, action: Action, decision: Decision) -> str:
    """'cannot submit CHG-12: no rollback plan; no test evidence'."""
    return f"cannot {action.value.replace('_', ' ')} {change.ref}: {decision.summary()}"


def retro_approval_deadline(implemented_at: datetime, policy: Policy) -> datetime:
    return implemented_at + timedelta(minutes=policy.emergency.retroactive_approval_deadline_minutes)


def emergency_status(change: ChangeFacts, policy: Policy, now: datetime) -> EmergencyStatus:
    """Where an emergency change stands: approved, rejected, pending, or overdue."""
    if change.type is not ChangeType.EMERGENCY:
        return EmergencyStatus.NOT_EMERGENCY
    if change.implemented_at is None and change.state in (State.CANCELLED, State.REJECTED):
        return EmergencyStatus.NOT_REQUIRED  # it never ran, so nothing awaits retroactive approval
    status = approval_status(policy, change)
    if status.rejections:
        return EmergencyStatus.REJECTED
    if status.complete:
        return EmergencyStatus.APPROVED
    if change.retro_approval_due is not None and now > change.retro_approval_due:
        return EmergencyStatus.OVERDUE
    return EmergencyStatus.PENDING
