"""The approval matrix (seed 000) and the rules for recording one approval."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from changegate.core.changes.approvals import approval_status, check_approval, matching_rule, required_roles
from changegate.core.changes.entities import (
    ApprovalDecision,
    ApprovalFacts,
    Category,
    ChangeFacts,
    ChangeType,
    ReleaseLevel,
    Risk,
    State,
)
from changegate.core.policy.model import Person
from changegate.services.policy import load_policy, parse_policy
from changegate.settings import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
N, E, S = ChangeType.NORMAL, ChangeType.EMERGENCY, ChangeType.STANDARD
PATCH, MINOR, MAJOR = ReleaseLevel.PATCH, ReleaseLevel.MINOR, ReleaseLevel.MAJOR

INES = POLICY.person("ines.itmgr")  # it_manager
OMAR = POLICY.person("omar.ops")  # operations_manager
CLARA = POLICY.person("clara.cio")  # cio
IVAN = Person(id="ivan.itmgr", name="Ivan, second IT manager", roles=("it_manager",))
MAX = Person(id="max.both", name="Max, IT and operations manager", roles=("it_manager", "operations_manager"))


def change(type_=N, state=State.ASSESSED, release_level=MINOR, environment="prod",
           category=Category.APPLICATION, approvals=(), requester="dana.dev") -> ChangeFacts:
    return ChangeFacts(
        ref="CHG-7", type=type_, category=category, release_level=release_level, risk=Risk.IMPORTANT,
        environment=environment, state=state, requester=requester, title="New label template",
        approvals=tuple(approvals),
    )


def approval(person: Person, role: str, decision=ApprovalDecision.APPROVED) -> ApprovalFacts:
    return ApprovalFacts(role=role, approver=person.id, decision=decision, at=NOW)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


# --- the default matrix ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release_level", "environment", "type_", "roles"),
    [
        (PATCH, "prod", N, ("it_manager",)),
        (MINOR, "prod", N, ("it_manager", "operations_manager")),
        (MAJOR, "prod", N, ("cio", "plant_director")),
        (PATCH, "uat", N, ("it_manager",)),
        (MAJOR, "uat", E, ("cio", "plant_director")),
        (MINOR, "prod", E, ("it_manager", "operations_manager")),
        # The sandbox needs no approval: its rule ties with the release-level rules and comes first.
        (PATCH, "dev", N, ()),
        (MAJOR, "dev", E, ()),
        # A standard change is pre-approved by its template, whatever the matrix says.
        (MAJOR, "prod", S, ()),
        (PATCH, "uat", S, ()),
    ],
    ids=str,
)
def test_default_matrix(release_level, environment, type_, roles):
    assert required_roles(POLICY, change(type_, release_level=release_level, environment=environment)) == roles


# --- most specific rule wins, ties go to the first --------------------------------------------

MATRIX_POLICY = """\
version: 1
environments: {dev: {}, prod: {production: true}}
roles: {a: {}, b: {}, c: {}, d: {}, e: {}}
approvals:
  matrix:
"""
RULES = [
    "{release_level: patch, roles: [a]}",
    "{environment: prod, roles: [b]}",
    "{release_level: minor, environment: prod, roles: [c]}",
    "{release_level: minor, environment: prod, category: data, roles: [d]}",
    "{release_level: minor, environment: prod, type: emergency, roles: [e]}",
]


def matrix_policy(rules: list[str]):
    return parse_policy(MATRIX_POLICY + "".join(f"    - {r}\n" for r in rules), "m.yaml")


@pytest.mark.parametrize(
    ("release_level", "environment", "category", "type_", "roles", "rule_index"),
    [
        (PATCH, "prod", Category.APPLICATION, N, ("a",), 0),  # rule 0 and 1 equally specific: the first wins
        (PATCH, "dev", Category.DATA, E, ("a",), 0),
        (MAJOR, "prod", Category.HARDWARE, N, ("b",), 1),
        (MINOR, "prod", Category.APPLICATION, N, ("c",), 2),  # two fields beat one
        (MINOR, "prod", Category.DATA, N, ("d",), 3),  # three beat two
        (MINOR, "prod", Category.DATA, E, ("d",), 3),  # rules 3 and 4 both match with three fields: first
        (MINOR, "prod", Category.TRAFFIC, E, ("e",), 4),
        (MAJOR, "dev", Category.DATA, N, (), None),  # nothing matches
    ],
    ids=str,
)
def test_most_specific_rule_wins_and_ties_go_to_the_first(release_level, environment, category, type_, roles,
                                                          rule_index):
    policy = matrix_policy(RULES)
    subject = change(type_, release_level=release_level, environment=environment, category=category)
    rule = matching_rule(policy, subject)
    assert (None if rule is None else policy.approvals.matrix.index(rule)) == rule_index
    assert required_roles(policy, subject) == roles


def test_swapping_two_equally_specific_rules_swaps_the_winner():
    subject = change(release_level=PATCH, environment="prod")
    assert required_roles(matrix_policy(RULES[:2]), subject) == ("a",)
    assert required_roles(matrix_policy([RULES[1], RULES[0]]), subject) == ("b",)


def test_rule_order_does_not_matter_between_rules_of_different_specificity():
    subject = change(release_level=MINOR, environment="prod", category=Category.DATA)
    assert required_roles(matrix_policy(list(reversed(RULES))), subject) == ("d",)


# --- approval status -----------------------------------------------------------------------------


def test_status_with_no_approval_is_missing_every_required_role():
    status = approval_status(POLICY, change())
    assert status.required == ("it_manager", "operations_manager")
    assert status.missing == ("it_manager", "operations_manager")
    assert (status.approved, status.rejections, status.complete) == ((), (), False)


def test_status_partial_then_complete():
    partial = approval_status(POLICY, change(approvals=[approval(INES, "it_manager")]))
    assert (partial.missing, partial.complete) == (("operations_manager",), False)
    full = approval_status(POLICY, change(approvals=[approval(INES, "it_manager"), approval(OMAR, "operations_manager")]))
    assert (full.missing, full.complete) == ((), True)
    assert [a.approver for a in full.approved] == ["ines.itmgr", "omar.ops"]


def test_status_ignores_approvals_in_roles_not_required():
    status = approval_status(POLICY, change(release_level=PATCH, approvals=[approval(CLARA, "cio")]))
    assert (status.approved, status.missing) == ((), ("it_manager",))


def test_one_rejection_makes_the_status_incomplete_even_when_every_slot_is_filled():
    no = approval(CLARA, "cio", ApprovalDecision.REJECTED)
    status = approval_status(
        POLICY, change(approvals=[approval(INES, "it_manager"), approval(OMAR, "operations_manager"), no])
    )
    assert status.missing == ()
    assert status.rejections == (no,)
    assert not status.complete


def test_standard_and_dev_changes_are_complete_without_approvals():
    assert approval_status(POLICY, change(S, State.AUTHORIZED, release_level=MAJOR)).complete
    assert approval_status(POLICY, change(environment="dev", release_level=MAJOR)).complete


# --- check_approval ------------------------------------------------------------------------------


def test_a_role_holder_may_approve_a_required_slot():
    decision = check_approval(POLICY, change(), INES, "it_manager")
    assert decision.allowed and decision.reasons == ()


def test_nobody_approves_their_own_change():
    requester = Person(id="dana.dev", name="Dana, also an IT manager", roles=("developer", "it_manager"))
    decision = check_approval(POLICY, change(requester="dana.dev"), requester, "it_manager")
    assert codes(decision) == ["own_change"]
    assert decision.summary() == "dana.dev requested CHG-7 and cannot approve it"


def test_one_person_cannot_fill_two_slots():
    decision = check_approval(POLICY, change(approvals=[approval(MAX, "it_manager")]), MAX, "operations_manager")
    assert codes(decision) == ["already_decided"]
    assert decision.summary() == "max.both already decided as it_manager; one person fills one slot"


def test_only_a_holder_of_the_role_may_fill_it():
    decision = check_approval(POLICY, change(), OMAR, "it_manager")
    assert codes(decision) == ["not_role_holder"]
    assert decision.summary() == "omar.ops does not hold the role it_manager"


def test_a_role_the_matrix_does_not_require_is_refused():
    decision = check_approval(POLICY, change(), CLARA, "cio")
    assert codes(decision) == ["role_not_required"]
    assert decision.summary() == "cio is not a required approver here (required: it_manager, operations_manager)"


def test_no_role_is_required_in_the_sandbox():
    decision = check_approval(POLICY, change(environment="dev"), INES, "it_manager")
    assert decision.summary() == "it_manager is not a required approver here (required: none)"


def test_a_filled_slot_is_refused():
    decision = check_approval(POLICY, change(approvals=[approval(INES, "it_manager")]), IVAN, "it_manager")
    assert codes(decision) == ["slot_filled"]
    assert decision.summary() == "it_manager already approved by ines.itmgr"


@pytest.mark.parametrize("state", list(State), ids=str)
def test_a_normal_change_takes_approvals_only_while_assessed(state):
    decision = check_approval(POLICY, change(N, state), INES, "it_manager")
    assert decision.allowed is (state is State.ASSESSED)
    if state is not State.ASSESSED:
        assert codes(decision) == ["wrong_state"]
        assert decision.summary() == f"approvals are not recorded while the change is {state.value} (only when assessed)"


EMERGENCY_APPROVAL_STATES = {
    State.SUBMITTED, State.ASSESSED, State.AUTHORIZED, State.SCHEDULED,
    State.IMPLEMENTING, State.COMPLETED, State.FAILED, State.ROLLED_BACK,  # retroactively, after running
}


@pytest.mark.parametrize("state", list(State), ids=str)
def test_an_emergency_change_takes_approvals_before_and_after_implementation(state):
    decision = check_approval(POLICY, change(E, state), INES, "it_manager")
    assert decision.allowed is (state in EMERGENCY_APPROVAL_STATES)
    if state not in EMERGENCY_APPROVAL_STATES:
        assert codes(decision) == ["wrong_state"]


@pytest.mark.parametrize("state", [State.DRAFT, State.AUTHORIZED, State.SCHEDULED], ids=str)
def test_a_standard_change_takes_no_approval(state):
    decision = check_approval(POLICY, change(S, state), INES, "it_manager")
    assert sorted(codes(decision)) == ["no_approval_needed", "role_not_required"]


def test_every_problem_is_reported_at_once():
    # The requester, holding no approver role, asks to approve a slot nobody needs, in the wrong state,
    # after already having decided once.
    dana = POLICY.person("dana.dev")
    subject = change(state=State.DRAFT, approvals=[approval(dana, "it_manager", ApprovalDecision.REJECTED)])
    decision = check_approval(POLICY, subject, dana, "cio")
    assert not decision.allowed
    assert sorted(codes(decision)) == sorted(
        ["wrong_state", "own_change", "not_role_holder", "role_not_required", "already_decided"]
    )
