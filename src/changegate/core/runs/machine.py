"""A deployment run's states as a table (house rule: state machines are tables).

``TRANSITIONS`` maps (state, event) to the next state; ``next_state`` is the only function that decides
one. The change follows its run: ``CHANGE_ACTION`` says which lifecycle action a run's end takes.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    PROTECTING = "protecting"  # protect steps, then the baseline samples; nothing is changed yet
    DEPLOYING = "deploying"
    WAITING = "waiting"  # until T+N
    CHECKING = "checking"
    # Committed at T+N, and still watched: the checks run again at an interval (the plan's timing.monitor_for).
    MONITORING = "monitoring"
    # A check failed (or a manual step was not confirmed in time) and the plan says pause: a person decides.
    PAUSED = "paused"
    ROLLING_BACK = "rolling_back"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    # A person ended it before it deployed anything (queued, or protecting): nothing was changed.
    CANCELLED = "cancelled"


class Event(StrEnum):
    START = "start"
    PROTECTED = "protected"
    PROTECT_FAILED = "protect_failed"  # nothing was changed: the run fails, nothing to roll back
    DEPLOYED = "deployed"
    REHEARSED = "rehearsed"  # a rollback rehearsal: deployed, now roll back at once
    STEP_FAILED = "step_failed"
    INTERRUPTED = "interrupted"  # a worker died in a step that is not idempotent
    DUE = "due"
    PASSED = "passed"
    MONITOR = "monitor"  # the checks passed and early-life monitoring follows
    MONITORED = "monitored"  # early-life monitoring ended with every round passing (or only alarms)
    CHECK_FAILED = "check_failed"
    CHECK_FAILED_PAUSE = "check_failed_pause"
    ROLLBACK_REQUESTED = "rollback_requested"  # a person's decision: skips analysis
    COMMIT_REQUESTED = "commit_requested"  # a person's decision: the paused deployment stands
    TIMED_OUT_PAUSE = "timed_out_pause"  # a manual step was not confirmed in time and says pause
    RESUMED = "resumed"  # that step was confirmed after all: the deployment carries on
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    WORKER_GAVE_UP = "worker_gave_up"  # driving it raised too often (changegate.jobs): a person must look
    CANCEL_REQUESTED = "cancel_requested"  # a person ends a run that has changed nothing yet


S, E = RunState, Event
_ROWS: tuple[tuple[RunState, Event, RunState], ...] = (
    (S.QUEUED, E.START, S.PROTECTING),
    (S.PROTECTING, E.PROTECTED, S.DEPLOYING),
    (S.PROTECTING, E.PROTECT_FAILED, S.FAILED),
    (S.DEPLOYING, E.DEPLOYED, S.WAITING),
    (S.DEPLOYING, E.REHEARSED, S.ROLLING_BACK),
    (S.DEPLOYING, E.STEP_FAILED, S.ROLLING_BACK),
    (S.DEPLOYING, E.INTERRUPTED, S.ROLLING_BACK),
    (S.WAITING, E.DUE, S.CHECKING),
    (S.CHECKING, E.PASSED, S.COMMITTED),
    (S.CHECKING, E.CHECK_FAILED, S.ROLLING_BACK),
    (S.CHECKING, E.CHECK_FAILED_PAUSE, S.PAUSED),
    (S.CHECKING, E.INTERRUPTED, S.ROLLING_BACK),
    (S.CHECKING, E.MONITOR, S.MONITORING),
    (S.MONITORING, E.MONITORED, S.COMMITTED),
    (S.MONITORING, E.CHECK_FAILED, S.ROLLING_BACK),
    (S.MONITORING, E.CHECK_FAILED_PAUSE, S.PAUSED),
    (S.DEPLOYING, E.TIMED_OUT_PAUSE, S.PAUSED),
    (S.PAUSED, E.RESUMED, S.DEPLOYING),
    (S.PAUSED, E.COMMIT_REQUESTED, S.COMMITTED),
    *((s, E.ROLLBACK_REQUESTED, S.ROLLING_BACK) for s in (S.DEPLOYING, S.WAITING, S.CHECKING, S.MONITORING,
                                                           S.PAUSED)),
    (S.QUEUED, E.CANCEL_REQUESTED, S.CANCELLED),
    (S.PROTECTING, E.CANCEL_REQUESTED, S.CANCELLED),
    (S.ROLLING_BACK, E.ROLLED_BACK, S.ROLLED_BACK),
    (S.ROLLING_BACK, E.ROLLBACK_FAILED, S.FAILED),
    *((s, E.WORKER_GAVE_UP, S.FAILED) for s in (S.QUEUED, S.PROTECTING, S.DEPLOYING, S.WAITING, S.CHECKING,
                                                 S.MONITORING, S.ROLLING_BACK)),
)

TRANSITIONS: dict[tuple[RunState, Event], RunState] = {(s, e): t for s, e, t in _ROWS}
FINAL = frozenset({S.COMMITTED, S.ROLLED_BACK, S.FAILED, S.CANCELLED})
# States a worker drives; PAUSED waits for a person, the final states for nobody.
UNFINISHED = frozenset(RunState) - FINAL  # a change has at most one run in these states
ACTIVE = frozenset({S.QUEUED, S.PROTECTING, S.DEPLOYING, S.WAITING, S.CHECKING, S.MONITORING, S.ROLLING_BACK})
# The change's lifecycle action when its run ends (services/runs.py applies it).
# A cancelled run changed nothing: the change ends rolled back, i.e. on its known-good state, which it never left.
CHANGE_ACTION: dict[RunState, str] = {S.COMMITTED: "complete", S.ROLLED_BACK: "roll_back", S.FAILED: "fail",
                                      S.CANCELLED: "roll_back"}




class StepState(StrEnum):
    """A step's state (``run_steps.state``); the engine, the journal and the services use only these."""

    RUNNING = "running"
    WAITING = "waiting"  # a manual step, waiting for a holder of its role
    SUCCEEDED = "succeeded"
    FAILED = "failed"


STEP_ENDED = frozenset({StepState.SUCCEEDED, StepState.FAILED})


class IllegalRunMove(ValueError):
    pass


def next_state(state: RunState, event: Event) -> RunState:
    target = TRANSITIONS.get((state, event))
    if target is None:
        legal = ", ".join(e.value for (s, e) in TRANSITIONS if s == state) or "none"
        raise IllegalRunMove(f"a run that is {state.value} cannot take {event.value} (possible: {legal})")
    return target
