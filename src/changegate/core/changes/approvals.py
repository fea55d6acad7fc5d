"""The approval matrix (seed 000) and the rules for recording an approval.

patch -> IT manager; minor -> IT manager + operations manager; major -> CIO +
plant director, overridable per environment, category and type in the policy.
Nobody approves their own change; one person fills at most one slot; only a
holder of a role may fill that role's slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from .entities import ApprovalDecision, ApprovalFacts, ChangeFacts, ChangeType, State
from ..decisions import Decision, Reason
from ..policy.model import ApprovalRule, Person, Policy

# States in which approvals may be recorded, per type. Emergency changes are
# approved retroactively, so their approvals may arrive after implementation.
APPROVAL_STATES: dict[ChangeType, frozenset[State]] = {
    ChangeType.NORMAL: frozenset({State.ASSESSED}),
    ChangeType.EMERGENCY: frozenset(
        {State.SUBMITTED, State.ASSESSED, State.AUTHORIZED, State.SCHEDULED, State.IMPLEMENTING,
         State.COMPLETED, State.FAILED, State.ROLLED_BACK}
    ),
    ChangeType.STANDARD: frozenset(),
}


def matching_rule(policy: Policy, change: ChangeFacts) -> ApprovalRule | None:
    best: ApprovalRule | None = None
    for rule in policy.approvals.matrix:
        if rule.release_level not in (None, change.release_level):
            continue
        if rule.environment not in (None, change.environment):
            continue
        if rule.category not in (None, change.category):
            continue
        if rule.type not in (None, change.type):
            continue
        # Most specific wins; among equals, the first in the file.
        if best is None or rule.specificity > best.specificity:
            best = rule
    return best


def required_roles(policy: Policy, change: ChangeFacts) -> tuple[str, ...]:
    if change.type is ChangeType.STANDARD:
        return ()  # pre-approved by its template
    rule = matching_rule(policy, change)
    return rule.roles if rule else ()


@dataclass(frozen=True, slots=True)
class ApprovalStatus:
    required: tuple[str, ...]
    approved: tuple[ApprovalFacts, ...]
    rejections: tuple[ApprovalFacts, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        filled = {a.role for a in self.approved}
        return tuple(r for r in self.required if r not in filled)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.rejections


def approval_status(policy: Policy, change: ChangeFacts) -> ApprovalStatus:
    required = required_roles(policy, change)
    approved = tuple(a for a in change.approvals if a.decision is ApprovalDecision.APPROVED and a.role in required)
    rejections = tuple(a for a in change.approvals if a.decision is ApprovalDecision.REJECTED)
    return ApprovalStatus(required, approved, rejections)


def check_approval(policy: Policy, change: ChangeFacts, approver: Person, role: str) -> Decision:
    """May ``approver`` record a decision for ``role`` on ``change``? Every problem at once."""
    problems: list[Reason] = []
    required = required_roles(policy, change)
    if change.state not in APPROVAL_STATES[change.type]:
        if change.type is ChangeType.STANDARD:
            problems.append(Reason("no_approval_needed", "a standard change is pre-approved by its template"))
        else:
            allowed = ", ".join(sorted(s.value for s in APPROVAL_STATES[change.type]))
            problems.append(Reason("wrong_state", f"approvals are not recorded while the change is "
                                                  f"{change.state.value} (only when {allowed})"))
    if approver.id == change.requester:
        problems.append(Reason("own_change", f"{approver.id} requested {change.ref} and cannot approve it"))
    if role not in approver.roles:
        problems.append(Reason("not_role_holder", f"{approver.id} does not hold the role {role}"))
    if role not in required:
        needed = ", ".join(required) or "none"
        problems.append(Reason("role_not_required", f"{role} is not a required approver here (required: {needed})"))
    for a in change.approvals:
        if a.role == role and a.decision is ApprovalDecision.APPROVED:
            problems.append(Reason("slot_filled", f"{role} already approved by {a.approver}"))
        if a.approver == approver.id:
            problems.append(
                Reason("already_decided", f"{approver.id} already decided as {a.role}; one person fills one slot")
            )
    return Decision.from_problems(problems)
