"""The run's state table: every legal move, and a refusal naming the possible ones."""

from __future__ import annotations

import pytest

from changegate.core.runs.machine import (
    ACTIVE, CHANGE_ACTION, FINAL, TRANSITIONS, Event, IllegalRunMove, RunState, next_state,
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
                       match=r"a run that is queued cannot take passed \(possible: start, worker_gave_up\)"):
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
