"""The run's state table: every legal move, and a refusal naming the possible ones."""

from __future__ import annotations

import pytest

from changegate.core.runs.machine import (
    ACTIVE, CHANGE_ACTION, FINAL, STEP_ENDED, TRANSITIONS, Event, IllegalRunMove, RunState, StepState, next_state,
)


def test_the_happy_path_and_the_rollback_path():
    s = RunState.QUEUED
    for event in (Event.START, Event.PROTECTED, Event.DEPLOYED, Event.DUE, Event.PASSED):
        s = next_state(s, event)
    assert s is RunState.COMMITTED and CHANGE_ACTION[s] == "complete"
    assert next_state(RunState.CHECKING, Event.CHECK_FAILED) is RunState.ROLLING_BACK
    assert next_state(RunState.ROLLING_BACK, Event.ROLLBACK_FAILED) is RunState.FAILED  # never rolled back
    assert next_state(RunState.PROTECTING, Event.PROTECT_FAILED) is RunState.FAILED


def test_final_states_have_no_way_out_and_a_refusal_lists_the_possible_events():
    assert not [key for key in TRANSITIONS if key[0] in FINAL]
    with pytest.raises(IllegalRunMove,
                       match=r"a run that is queued cannot take passed \(possible: start, cancel_requested, "
                             r"worker_gave_up\)"):
        next_state(RunState.QUEUED, Event.PASSED)


def test_a_worker_may_give_up_on_every_state_a_worker_drives_and_the_run_fails():
    for state in ACTIVE:
        assert next_state(state, Event.WORKER_GAVE_UP) is RunState.FAILED
    with pytest.raises(IllegalRunMove):
        next_state(RunState.PAUSED, Event.WORKER_GAVE_UP)  # nobody drives a paused run


def test_a_person_may_roll_back_from_every_state_after_changes_began():
    for state in (RunState.DEPLOYING, RunState.WAITING, RunState.CHECKING, RunState.PAUSED):
        assert next_state(state, Event.ROLLBACK_REQUESTED) is RunState.ROLLING_BACK
    assert RunState.PAUSED not in ACTIVE  # a paused run waits for a person, not a worker


def test_early_life_monitoring_commits_or_fails_like_the_checks():
    assert next_state(RunState.CHECKING, Event.MONITOR) is RunState.MONITORING
    assert next_state(RunState.MONITORING, Event.MONITORED) is RunState.COMMITTED
    assert next_state(RunState.MONITORING, Event.CHECK_FAILED) is RunState.ROLLING_BACK
    assert next_state(RunState.MONITORING, Event.CHECK_FAILED_PAUSE) is RunState.PAUSED
    assert next_state(RunState.MONITORING, Event.ROLLBACK_REQUESTED) is RunState.ROLLING_BACK
    assert RunState.MONITORING in ACTIVE and RunState.MONITORING not in FINAL  # a worker keeps watching


def test_a_person_commits_a_paused_run_or_resumes_one_paused_at_a_manual_step():
    assert next_state(RunState.PAUSED, Event.COMMIT_REQUESTED) is RunState.COMMITTED
    assert next_state(RunState.DEPLOYING, Event.TIMED_OUT_PAUSE) is RunState.PAUSED
    assert next_state(RunState.PAUSED, Event.RESUMED) is RunState.DEPLOYING
    with pytest.raises(IllegalRunMove):
        next_state(RunState.CHECKING, Event.COMMIT_REQUESTED)  # only a paused run waits for that decision


def test_step_states_are_one_enum_and_ended_means_succeeded_or_failed():
    assert [s.value for s in StepState] == ["running", "waiting", "succeeded", "failed"]
    assert STEP_ENDED == {StepState.SUCCEEDED, StepState.FAILED} and "succeeded" in STEP_ENDED


def test_a_person_cancels_a_run_that_has_deployed_nothing_and_the_change_ends_on_its_known_good_state():
    for state in (RunState.QUEUED, RunState.PROTECTING):
        assert next_state(state, Event.CANCEL_REQUESTED) is RunState.CANCELLED
    for state in (RunState.DEPLOYING, RunState.PAUSED, RunState.ROLLING_BACK):
        with pytest.raises(IllegalRunMove):  # something was deployed: a rollback, not a cancellation
            next_state(state, Event.CANCEL_REQUESTED)
    assert RunState.CANCELLED in FINAL and CHANGE_ACTION[RunState.CANCELLED] == "roll_back"
