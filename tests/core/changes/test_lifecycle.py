"""The change lifecycle table, its guards, and where emergency changes stand with retroactive approval."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from changegate.core.changes.entities import (
    TERMINAL_STATES,
    ApprovalDecision,
    ApprovalFacts,
    Category,
    ChangeFacts,
    ChangeType,
    EmergencyStatus,
    ReleaseLevel,
    Risk,
    State,
)
from changegate.core.decisions import Decision, Reason
from changegate.core.changes.lifecycle import (
    TRANSITIONS,
    Action,
    apply,
    available_actions,
    emergency_status,
    refusal_message,
    retro_approval_deadline,
)
from changegate.services.policy import load_policy, parse_policy
from changegate.settings import DEFAULT_POLICY

POLICY = load_policy(DEFAULT_POLICY)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

N, E, S = ChangeType.NORMAL, ChangeType.EMERGENCY, ChangeType.STANDARD

# The lifecycle written out independently of the code: (from, action, to, types).
EXPECTED_ROWS = [
    ("draft", "submit", "submitted", (N, E)),
    ("draft", "submit", "authorized", (S,)),  # a standard change is pre-approved by its template
    ("submitted", "withdraw", "draft", (N, E)),
    ("submitted", "assess", "assessed", (N, E)),
    ("submitted", "reject", "rejected", (N, E)),
    ("assessed", "authorize", "authorized", (N, E)),
    ("assessed", "reject", "rejected", (N, E)),
    ("authorized", "schedule", "scheduled", (N, E, S)),
    ("scheduled", "reschedule", "scheduled", (N, E, S)),
    ("scheduled", "unschedule", "authorized", (N, E, S)),
    ("scheduled", "start", "implementing", (N, E, S)),
    ("submitted", "start", "implementing", (E,)),  # emergencies may run before approval
    ("assessed", "start", "implementing", (E,)),
    ("authorized", "start", "implementing", (E,)),
    ("implementing", "complete", "completed", (N, E, S)),
    ("implementing", "fail", "failed", (N, E, S)),
    ("implementing", "roll_back", "rolled_back", (N, E, S)),
    ("failed", "roll_back", "rolled_back", (N, E, S)),
    *((s, "cancel", "cancelled", (N, E, S)) for s in ("draft", "submitted", "assessed", "authorized", "scheduled")),
]
EXPECTED = {
    (t, State(src), Action(action)): State(dst) for src, action, dst, types in EXPECTED_ROWS for t in types
}
NEEDS_REASON = {Action.REJECT, Action.CANCEL, Action.FAIL, Action.ROLL_BACK, Action.WITHDRAW}


def expected_actions(type_: ChangeType, state: State) -> set[Action]:
    """What a person may ask for: the table's actions minus AUTHORIZE, which only the system takes."""
    return {a for (t, s, a) in EXPECTED if t == type_ and s == state} - {Action.AUTHORIZE}


def reachable(type_: ChangeType) -> set[State]:
    seen, todo = {State.DRAFT}, [State.DRAFT]
    while todo:
        here = todo.pop()
        for (t, s, _), dst in EXPECTED.items():
            if t == type_ and s == here and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def approved(role: str, approver: str) -> ApprovalFacts:
    return ApprovalFacts(role=role, approver=approver, decision=ApprovalDecision.APPROVED, at=NOW)


def rejected(role: str, approver: str) -> ApprovalFacts:
    return ApprovalFacts(role=role, approver=approver, decision=ApprovalDecision.REJECTED, at=NOW)


def change(type_: ChangeType = N, state: State = State.DRAFT, **overrides) -> ChangeFacts:
    """A prod patch whose every field is filled in and whose approval (IT manager) is in."""
    fields = dict(
        ref="CHG-12", type=type_, category=Category.APPLICATION, release_level=ReleaseLevel.PATCH,
        risk=Risk.STANDARD, environment="prod", state=state, requester="dana.dev",
        title="Fix the label layout on line 3", description="Barcode is cut off.",
        items=("label-printing",), impact_analysis="Line 3 label printing, MES screen L3-PRINT.",
        implementation_plan="Run deploy.sh on the print server.", verification_plan="Print one label.",
        rollback_script="./rollback.sh", planned_start=NOW, estimated_downtime_minutes=10,
        evidence_count=1, uat_signed_off=True, approvals=(approved("it_manager", "ines.itmgr"),),
    )
    fields.update(overrides)
    return ChangeFacts(**fields)


def codes(result) -> list[str]:
    return [r.code for r in result.decision.reasons]


# --- the table -----------------------------------------------------------------------------


def test_transitions_table_is_exactly_the_documented_lifecycle():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(
    ("type_", "source", "action"), sorted(EXPECTED), ids=lambda v: getattr(v, "value", v)
)
def test_every_row_moves_the_change_when_its_guards_are_met(type_, source, action):
    result = apply(change(type_, source), action, POLICY, reason="planned maintenance",
                   schedule_decision=Decision.allow())
    assert result.allowed, result.decision.summary()
    assert (result.source, result.target) == (source, EXPECTED[(type_, source, action)])
    assert result.decision.reasons == ()


@pytest.mark.parametrize("state", list(State), ids=str)
@pytest.mark.parametrize("type_", list(ChangeType), ids=str)
def test_every_move_not_in_the_table_is_refused_naming_the_possible_actions(type_, state):
    subject = change(type_, state)
    possible = expected_actions(type_, state)
    for action in set(Action) - {a for (t, s, a) in EXPECTED if t == type_ and s == state}:
        result = apply(subject, action, POLICY, reason="because", schedule_decision=Decision.allow())
        assert not result.allowed
        assert (result.source, result.target) == (state, None)
        assert codes(result) == ["illegal_transition"]
        message = result.decision.reasons[0].message
        match = re.fullmatch(
            rf"a {type_.value} change in state {state.value} cannot {action.value} \(possible: (.+)\)", message
        )
        assert match, message
        listed = match.group(1)
        assert (set() if listed == "none" else set(listed.split(", "))) == {a.value for a in possible}


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES), ids=str)
@pytest.mark.parametrize("type_", list(ChangeType), ids=str)
def test_terminal_states_have_no_way_out(type_, state):
    assert available_actions(change(type_, state)) == []
    assert not any(s == state for (_, s, _) in TRANSITIONS)


@pytest.mark.parametrize("state", list(State), ids=str)
@pytest.mark.parametrize("type_", list(ChangeType), ids=str)
def test_available_actions_agrees_with_the_table_and_never_offers_authorize(type_, state):
    actions = available_actions(change(type_, state))
    assert len(actions) == len(set(actions))
    assert set(actions) == expected_actions(type_, state)


def test_failed_is_not_terminal_it_must_be_rolled_back():
    assert State.FAILED not in TERMINAL_STATES
    assert available_actions(change(N, State.FAILED)) == [Action.ROLL_BACK]


# --- submit: seed 000's four things, all reported at once --------------------------------------


def test_submit_reports_exactly_what_is_missing_in_one_sentence():
    subject = change(N, rollback_script="", evidence_count=0)
    result = apply(subject, Action.SUBMIT, POLICY)
    assert not result.allowed and result.target is None
    assert codes(result) == ["missing_rollback_plan", "missing_test_evidence"]
    assert refusal_message(subject, Action.SUBMIT, result.decision) == (
        "cannot submit CHG-12: no rollback plan; no test evidence"
    )


def test_submit_of_an_empty_normal_change_lists_every_missing_thing():
    blank = change(N, title=" ", items=(), impact_analysis="", implementation_plan="\n", rollback_script="  ",
                   planned_start=None, estimated_downtime_minutes=None, evidence_count=0)
    result = apply(blank, Action.SUBMIT, POLICY)
    assert refusal_message(blank, Action.SUBMIT, result.decision) == (
        "cannot submit CHG-12: no title; no impact analysis; no configuration items named; no rollback plan; "
        "no implementation plan; no planned start; no estimated downtime; no test evidence"
    )
    assert codes(result) == [
        "missing_title", "missing_impact_analysis", "missing_items", "missing_rollback_plan",
        "missing_implementation_plan", "missing_planned_start", "missing_downtime", "missing_test_evidence",
    ]


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ({"impact_analysis": ""}, "missing_impact_analysis"),
        ({"items": ()}, "missing_items"),
        ({"rollback_script": ""}, "missing_rollback_plan"),
        ({"implementation_plan": ""}, "missing_implementation_plan"),
        ({"planned_start": None}, "missing_planned_start"),
        ({"estimated_downtime_minutes": None}, "missing_downtime"),
        ({"evidence_count": 0}, "missing_test_evidence"),
        ({"title": ""}, "missing_title"),
    ],
)
def test_each_of_seed_000s_requirements_blocks_a_normal_submit_on_its_own(missing, code):
    assert codes(apply(change(N, **missing), Action.SUBMIT, POLICY)) == [code]


def test_zero_minutes_of_downtime_is_an_estimate_not_a_missing_one():
    assert apply(change(N, estimated_downtime_minutes=0), Action.SUBMIT, POLICY).allowed


def test_an_emergency_may_bring_its_test_evidence_afterwards_but_not_its_rollback_plan():
    assert apply(change(E, evidence_count=0), Action.SUBMIT, POLICY).target is State.SUBMITTED
    result = apply(change(E, evidence_count=0, rollback_script="", estimated_downtime_minutes=None),
                   Action.SUBMIT, POLICY)
    assert codes(result) == ["missing_rollback_plan", "missing_downtime"]


def test_a_standard_submit_goes_straight_to_authorized_and_owes_only_title_and_timing():
    template_based = change(S, items=(), impact_analysis="", implementation_plan="", rollback_script="",
                            estimated_downtime_minutes=None, evidence_count=0, approvals=())
    result = apply(template_based, Action.SUBMIT, POLICY)
    assert (result.allowed, result.target) == (True, State.AUTHORIZED)

    untimed = replace(template_based, title="", planned_start=None)
    result = apply(untimed, Action.SUBMIT, POLICY)
    assert refusal_message(untimed, Action.SUBMIT, result.decision) == (
        "cannot submit CHG-12: no title; no planned start"
    )


# --- assess and authorize -----------------------------------------------------------------------


def test_assess_needs_verification_and_implementation_plans():
    result = apply(change(N, State.SUBMITTED, verification_plan="", implementation_plan=" "), Action.ASSESS, POLICY)
    assert codes(result) == ["missing_verification_plan", "missing_implementation_plan"]


@pytest.mark.parametrize(
    ("release_level", "approvals", "summary"),
    [
        (ReleaseLevel.PATCH, (), "no approval from it_manager"),
        (ReleaseLevel.MINOR, (), "no approval from it_manager; no approval from operations_manager"),
        (ReleaseLevel.MINOR, (approved("operations_manager", "omar.ops"),), "no approval from it_manager"),
        # An approval in a role the matrix does not ask for fills nothing.
        (ReleaseLevel.MAJOR, (approved("it_manager", "ines.itmgr"), approved("cio", "clara.cio")),
         "no approval from plant_director"),
        (ReleaseLevel.PATCH, (approved("it_manager", "ines.itmgr"), rejected("cab_member", "cab.carla")),
         "rejected by cab.carla as cab_member"),
    ],
)
def test_authorize_needs_every_required_approval_and_no_rejection(release_level, approvals, summary):
    subject = change(N, State.ASSESSED, release_level=release_level, approvals=approvals)
    result = apply(subject, Action.AUTHORIZE, POLICY)
    assert not result.allowed
    assert result.decision.summary() == summary


def test_authorize_in_dev_needs_no_approval():
    assert apply(change(N, State.ASSESSED, environment="dev", release_level=ReleaseLevel.MAJOR, approvals=()),
                 Action.AUTHORIZE, POLICY).target is State.AUTHORIZED


# --- reasons ------------------------------------------------------------------------------------

REASON_CASES = [
    (N, State.SUBMITTED, Action.WITHDRAW),
    (N, State.SUBMITTED, Action.REJECT),
    (N, State.ASSESSED, Action.REJECT),
    (N, State.DRAFT, Action.CANCEL),
    (S, State.SCHEDULED, Action.CANCEL),
    (N, State.IMPLEMENTING, Action.FAIL),
    (N, State.IMPLEMENTING, Action.ROLL_BACK),
    (E, State.FAILED, Action.ROLL_BACK),
]


@pytest.mark.parametrize(("type_", "state", "action"), REASON_CASES, ids=str)
@pytest.mark.parametrize("blank", ["", "   \n"], ids=["empty", "blank"])
def test_reject_cancel_fail_roll_back_and_withdraw_need_a_reason(type_, state, action, blank):
    subject = change(type_, state)
    result = apply(subject, action, POLICY, reason=blank)
    assert (result.allowed, result.target) == (False, None)
    assert codes(result) == ["missing_reason"]
    assert refusal_message(subject, action, result.decision).startswith(
        f"cannot {action.value.replace('_', ' ')} CHG-12: a reason is required to "
    )
    assert apply(subject, action, POLICY, reason="line 3 stopped").allowed


def test_exactly_those_actions_need_a_reason():
    for (type_, state, action) in EXPECTED:
        result = apply(change(type_, state), action, POLICY, reason="", schedule_decision=Decision.allow())
        assert ("missing_reason" in codes(result)) == (action in NEEDS_REASON), (type_, state, action)


def test_a_missing_reason_is_said_in_a_sentence_naming_the_action():
    result = apply(change(N, State.IMPLEMENTING), Action.ROLL_BACK, POLICY, reason=" ")
    assert result.decision.summary() == "a reason is required to roll back"


# --- schedule -----------------------------------------------------------------------------------

BLACKOUT = Reason("blackout", "Friday 2026-12-04 is a blackout day")
OUTSIDE = Reason("outside_window", "10:30-11:30 does not fit in a deployment window")


@pytest.mark.parametrize(("state", "action"), [(State.AUTHORIZED, Action.SCHEDULE),
                                               (State.SCHEDULED, Action.RESCHEDULE)], ids=str)
def test_a_failing_schedule_decision_blocks_scheduling_and_its_reasons_pass_through(state, action):
    subject = change(N, state)
    result = apply(subject, action, POLICY, schedule_decision=Decision.deny(BLACKOUT, OUTSIDE))
    assert (result.allowed, result.target) == (False, None)
    assert result.decision.reasons == (BLACKOUT, OUTSIDE)
    assert refusal_message(subject, action, result.decision) == (
        f"cannot {action.value} CHG-12: Friday 2026-12-04 is a blackout day; "
        "10:30-11:30 does not fit in a deployment window"
    )


def test_schedule_reports_missing_timing_and_the_schedules_reasons_together():
    subject = change(N, State.AUTHORIZED, estimated_downtime_minutes=None)
    result = apply(subject, Action.SCHEDULE, POLICY, schedule_decision=Decision.deny(BLACKOUT))
    assert codes(result) == ["missing_downtime", "blackout"]


@pytest.mark.parametrize(
    "decision", [None, Decision.allow(), Decision.allow(Reason("in_window", "fits Tue 09:00-11:00"))],
    ids=["no-check", "allowed", "allowed-with-reason"],
)
def test_an_allowing_or_absent_schedule_decision_lets_scheduling_through(decision):
    result = apply(change(N, State.AUTHORIZED), Action.SCHEDULE, POLICY, schedule_decision=decision)
    assert result.target is State.SCHEDULED


def test_leaving_a_bad_slot_is_never_blocked_by_the_schedule():
    result = apply(change(N, State.SCHEDULED), Action.UNSCHEDULE, POLICY, schedule_decision=Decision.deny(BLACKOUT))
    assert result.target is State.AUTHORIZED


# --- start --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "state", "may_start"),
    [
        (E, State.SUBMITTED, True), (E, State.ASSESSED, True), (E, State.AUTHORIZED, True),
        (E, State.SCHEDULED, True), (E, State.DRAFT, False),
        (N, State.SUBMITTED, False), (N, State.ASSESSED, False), (N, State.AUTHORIZED, False),
        (N, State.SCHEDULED, True), (N, State.DRAFT, False),
        (S, State.AUTHORIZED, False), (S, State.SCHEDULED, True),
    ],
    ids=str,
)
def test_emergencies_start_before_authorization_everything_else_only_when_scheduled(type_, state, may_start):
    result = apply(change(type_, state, approvals=()), Action.START, POLICY)
    assert result.allowed is may_start
    if may_start:
        assert result.target is State.IMPLEMENTING
    else:
        assert codes(result) == ["illegal_transition"]


# --- property: a random walk through apply stays inside the table ----------------------------------


@settings(max_examples=300, deadline=None)
@given(
    type_=st.sampled_from(list(ChangeType)),
    environment=st.sampled_from(["dev", "uat", "prod"]),
    release_level=st.sampled_from(list(ReleaseLevel)),
    approved_by_all=st.booleans(),
    data=st.data(),
)
def test_any_walk_from_draft_only_visits_reachable_states(type_, environment, release_level, approved_by_all, data):
    all_approvals = (
        approved("it_manager", "ines.itmgr"), approved("operations_manager", "omar.ops"),
        approved("cio", "clara.cio"), approved("plant_director", "paul.plant"),
    )
    subject = change(type_, State.DRAFT, environment=environment, release_level=release_level,
                     approvals=all_approvals if approved_by_all else ())
    needs_approval = type_ is not S and environment != "dev"
    allowed_states = reachable(type_)
    for _ in range(data.draw(st.integers(0, 30), label="steps")):
        state = subject.state
        assert set(available_actions(subject)) == expected_actions(type_, state)
        # Mostly a move the table knows, preferring forward ones so walks go deep; sometimes any action.
        table_moves = sorted(a for (t, s, a) in EXPECTED if t == type_ and s == state)
        forward = [a for a in table_moves if a not in (Action.CANCEL, Action.REJECT, Action.WITHDRAW)]
        pick = data.draw(st.integers(0, 4), label="pick")
        pool = forward if forward and pick >= 2 else table_moves if table_moves and pick >= 1 else list(Action)
        action = data.draw(st.sampled_from(pool), label="action")
        give_reason, slot_ok = data.draw(st.booleans(), label="reason"), data.draw(st.booleans(), label="slot ok")
        result = apply(subject, action, POLICY, reason="why" if give_reason else "",
                       schedule_decision=Decision.allow() if slot_ok else Decision.deny(BLACKOUT))
        legal = (type_, state, action) in EXPECTED
        guards_met = (
            (give_reason or action not in NEEDS_REASON)
            and (slot_ok or action not in (Action.SCHEDULE, Action.RESCHEDULE))
            and (approved_by_all or not needs_approval or action is not Action.AUTHORIZE)
        )
        assert result.allowed == (legal and guards_met), (state, action, result.decision.summary())
        assert result.source == state
        if result.allowed:
            assert result.target == EXPECTED[(type_, state, action)]
            assert result.target in allowed_states
            subject = replace(subject, state=result.target)
        else:
            assert result.target is None and result.decision.reasons
    if subject.state in TERMINAL_STATES:
        assert available_actions(subject) == []
    event(f"{type_.value} ends in {subject.state.value}")


# --- emergencies: retroactive approval -----------------------------------------------------------


def test_retroactive_approval_deadline_comes_from_the_policy():
    assert retro_approval_deadline(NOW, POLICY) == NOW + timedelta(hours=48)
    text = DEFAULT_POLICY.read_text(encoding="utf-8").replace(
        "retroactive_approval_deadline: 48h", "retroactive_approval_deadline: 1h30m"
    )
    assert retro_approval_deadline(NOW, parse_policy(text, "p.yaml")) == NOW + timedelta(minutes=90)


DUE = NOW + timedelta(hours=48)


@pytest.mark.parametrize(
    ("type_", "approvals", "due", "now", "status"),
    [
        (N, (), DUE, DUE + timedelta(days=9), EmergencyStatus.NOT_EMERGENCY),
        (S, (), None, NOW, EmergencyStatus.NOT_EMERGENCY),
        (E, (), DUE, NOW + timedelta(hours=1), EmergencyStatus.PENDING),
        (E, (), DUE, DUE, EmergencyStatus.PENDING),  # the deadline itself is still in time
        (E, (), DUE, DUE + timedelta(minutes=1), EmergencyStatus.OVERDUE),
        (E, (), None, NOW + timedelta(days=9), EmergencyStatus.PENDING),  # not implemented yet: no clock runs
        (E, (approved("it_manager", "ines.itmgr"),), DUE, DUE + timedelta(days=1), EmergencyStatus.APPROVED),
        (E, (approved("cab_member", "cab.carla"),), DUE, DUE + timedelta(days=1), EmergencyStatus.OVERDUE),
        (E, (rejected("it_manager", "ines.itmgr"),), DUE, NOW, EmergencyStatus.REJECTED),
        (E, (approved("it_manager", "ines.itmgr"), rejected("cio", "clara.cio")), DUE, NOW,
         EmergencyStatus.REJECTED),
    ],
)
def test_emergency_status(type_, approvals, due, now, status):
    subject = change(type_, State.COMPLETED, approvals=approvals, implemented_at=NOW, retro_approval_due=due)
    assert emergency_status(subject, POLICY, now) is status


def test_an_emergency_that_needs_no_approval_is_approved_at_once():
    subject = change(E, State.COMPLETED, environment="dev", approvals=(), retro_approval_due=DUE)
    assert emergency_status(subject, POLICY, DUE + timedelta(days=1)) is EmergencyStatus.APPROVED
