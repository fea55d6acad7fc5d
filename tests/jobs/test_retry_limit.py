"""A run whose driving raises again and again ends failed with an alarm after MAX_WORKER_ERRORS attempts,
on both engines, instead of being taken up for ever."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from changegate import jobs
from changegate.services import runs_worker

from jobs_support import change_state, queue_run, run_of


@pytest.mark.parametrize("state", ["queued", "rolling_back"])
def test_a_run_whose_driving_keeps_raising_ends_failed_with_an_alarm(rt, state):
    """Also while rolling back: the journal lets no other move through then, but the alarm must."""
    ref, run_id = queue_run(rt, "steps:\n  - {name: first, shell: 'true'}\n")
    with rt.engine.begin() as conn:  # the stored plan no longer parses: every attempt to drive it raises
        conn.execute(text("UPDATE deployment_runs SET plan_text = 'steps: [', state = :state WHERE id = :id"),
                     {"id": run_id, "state": state})
    engine = jobs.engine_for(rt)
    for _ in range(2 * runs_worker.MAX_WORKER_ERRORS):  # PostgreSQL: each pass sweeps and drains the queue
        engine.work(concurrency=1, exit_when_idle=True)
        if run_of(rt, ref).state == "failed":
            break
    run = run_of(rt, ref)
    assert run.state == "failed" and run.outcome.startswith("ALARM: driving this run raised 3 times"), run.outcome
    assert "InvalidInput" in run.outcome and run.lease_owner is None
    assert change_state(rt, ref) == "failed"
    with rt.uow(write=False) as uow:
        stored = uow.runs.get(run_id)
        assert stored.worker_errors == runs_worker.MAX_WORKER_ERRORS
        actions = [e.action for e in uow.audit.for_entity(f"change:{stored.change_id}")]
    assert actions.count("run.worker_error") == runs_worker.MAX_WORKER_ERRORS and "run.failed" in actions, actions
    assert runs_worker.needing_worker(rt) == []  # nobody takes it up again
    assert engine.work(concurrency=1, exit_when_idle=True) == 0
