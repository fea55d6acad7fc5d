"""Early-life monitoring after commit, against the real release service on SQLite and PostgreSQL: the checks
run again at an interval after the checks at T+N passed; a failure then rolls back (the default), or only
raises an alarm, as the plan says; recorded on the run and audited."""

from __future__ import annotations

import threading
import time

from changegate.core.errors import NotFound
from changegate.schemas.runs import CommitIn
from changegate.services import changes, runs

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, change_state, deploy


def monitored_plan(service, *, on_monitor_failure: str = "") -> str:
    root = service.root
    return f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {root}}}]
steps: [{{name: install v2, shell: "cp releases/v2/* live/", cwd: {root}}}]
checks:
  smoke: [{{name: health, http: {{url: "{service.url}/health", body_contains: ok}}}}]
timing:
  check_after: 0s
  monitor_for: 3s
  monitor_every: 1s
  {on_monitor_failure}
rollback: {{cwd: {root}}}
"""


def break_health_once_monitoring(rt, ref, service) -> threading.Thread:
    """The release turns bad after its checks passed: once the run monitors, its health answers 'broken'."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with rt.uow(write=False) as uow:
                try:
                    state = runs.show_run(uow, rt.context("audrey.audit"), ref, with_steps=False).state
                except NotFound:  # not deployed yet
                    state = None
            if state == "monitoring":
                (service.live / "health").write_text("broken")
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_monitoring_that_passes_every_round_commits_and_completes_the_change(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    run, events = deploy(rt, ref, monitored_plan(service))
    assert run.state == "committed", run.outcome
    assert run.outcome == "every check passed, and 3 round(s) of early-life monitoring"
    assert [s.key for s in run.steps if s.key.startswith("monitor.")] == [
        "monitor.1.smoke.health", "monitor.2.smoke.health", "monitor.3.smoke.health"]
    assert "run checking -> monitoring: every check passed: committed; early-life monitoring for 3 s" in events
    assert run.monitor_until is not None and change_state(rt, ref) == "completed"


def test_a_failure_while_monitoring_rolls_back_and_the_old_release_answers_again(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    breaker = break_health_once_monitoring(rt, ref, service)
    run, _ = deploy(rt, ref, monitored_plan(service))
    breaker.join()
    assert run.state == "rolled_back"
    assert run.outcome.startswith("early-life monitoring, round 1 of 3: smoke check 'health': ")
    assert service.get("/version").text == "1.0.0" and service.get("/health").text == "ok"
    assert run.check_to_rollback_seconds is not None and change_state(rt, ref) == "rolled_back"
    with rt.uow(write=False) as uow:
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    moved = next(e for e in history if e.action == "run.rolling_back")
    assert moved.detail["from"] == "monitoring" and moved.detail["event"] == "check_failed"


def test_a_failure_while_monitoring_only_alarms_when_the_plan_says_so(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    breaker = break_health_once_monitoring(rt, ref, service)
    run, events = deploy(rt, ref, monitored_plan(service, on_monitor_failure="on_monitor_failure: alarm"))
    breaker.join()
    assert run.state == "committed" and service.get("/version").text == "2.0.0"  # the deployment stands
    alarms = [n for n in run.notes if n.startswith("ALARM: ")]
    assert len(alarms) == 3 and alarms[0].startswith("ALARM: early-life monitoring, round 1 of 3: smoke check")
    with rt.uow(write=False) as uow:
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    assert [e.detail["note"] for e in history if e.action == "run.alarm"] == [a.removeprefix("ALARM: ")
                                                                              for a in alarms]
    assert change_state(rt, ref) == "completed"


def test_a_failure_while_monitoring_pauses_when_the_plan_says_so_and_a_person_commits(rt, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    breaker = break_health_once_monitoring(rt, ref, service)
    run, _ = deploy(rt, ref, monitored_plan(service, on_monitor_failure="on_monitor_failure: pause"))
    breaker.join()
    assert run.state == "paused" and run.outcome.startswith("early-life monitoring, round 1 of 3: ")
    assert change_state(rt, ref) == "implementing" and service.get("/version").text == "2.0.0"
    with rt.uow() as uow:
        out = runs.commit_run(uow, rt.context("rene.release"), ref, CommitIn(reason="the health page is wrong"))
    assert out.state == "committed" and out.outcome == "committed on rene.release's decision: the health page is wrong"
    assert out.ended_at is not None and out.lease_owner is None and change_state(rt, ref) == "completed"
    with rt.uow(write=False) as uow:
        history = changes.history(uow, rt.context("audrey.audit"), ref)
    complete = next(e for e in history if e.action == "change.complete")
    assert complete.actor == "rene.release"


def test_monitoring_for_a_time_that_is_no_multiple_of_its_interval_checks_once_more_at_its_end(rt, service):
    """2.5 s every 1 s: rounds at T+1, T+2 and a last one at T+2.5 (before the fix: two rounds, ending at T+2)."""
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = monitored_plan(service).replace("monitor_for: 3s", "monitor_for: 2500ms")
    run, _ = deploy(rt, ref, plan)
    assert run.state == "committed", run.outcome
    rounds = [s for s in run.steps if s.key.startswith("monitor.")]
    assert [s.key for s in rounds] == ["monitor.1.smoke.health", "monitor.2.smoke.health", "monitor.3.smoke.health"]
    assert rounds[-1].started_at >= run.monitor_until  # the last check at or after monitor_for, never skipped
    assert run.outcome == "every check passed, and 3 round(s) of early-life monitoring"
