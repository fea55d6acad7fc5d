"""A worker killed with kill -9 in the middle of a run, on SQLite and PostgreSQL: another worker takes the
run over once the lease expires, never repeats a finished step, and brings the run to a safe end — it
re-runs the interrupted step when that step is declared idempotent, and rolls back when it is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from changegate.services import runs

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, change_state


def _plan(service, *, idempotent: bool, marker) -> str:
    root = service.root
    return f"""
protect:
  - {{name: snapshot, shell: "cp live/* backup/", cwd: {root}}}
steps:
  - {{name: install v2, shell: "cp releases/v2/* live/ && echo installed >> {marker}", cwd: {root}}}
  - name: warm caches
    shell: "echo warming >> {marker}.warm; sleep {3 if idempotent else 30}"
    idempotent: {'true' if idempotent else 'false'}
checks:
  smoke:
    - {{name: health, http: {{url: "{service.url}/health"}}}}
timing: {{check_after: 1s}}
rollback: {{cwd: {root}}}
"""


def _cli(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "changegate.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_step(rt, ref, key, proc) -> None:
    """Until the first worker is inside ``key`` (it is slow on purpose)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with rt.uow(write=False) as uow:
            try:
                run = runs.show_run(uow, rt.context("audrey.audit"), ref)
            except Exception:  # noqa: BLE001 - not created yet
                run = None
        if run and any(s.key == key and s.state == "running" for s in run.steps):
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    raise AssertionError(f"the worker never reached {key}")


@pytest.mark.parametrize("idempotent", [False, True], ids=["not-idempotent", "idempotent"])
def test_a_killed_worker_is_taken_over_and_the_run_ends_safely(rt, service, policy_file, database_url, tmp_path,
                                                              idempotent):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    marker = tmp_path / "installed"
    plan = tmp_path / "plan.yaml"
    plan.write_text(_plan(service, idempotent=idempotent, marker=marker))
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
           "CHANGEGATE_USER": "rene.release"}
    first = _cli(env, "deploy", ref, "--env", "dev", "--plan", str(plan))
    _wait_for_step(rt, ref, "steps.1", first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert service.get("/version").text == "2.0.0"  # half deployed, and nobody drives it now

    second = _cli(env, "worker", "--max-runs", "1")  # takes the run when the dead worker's lease expires
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
    steps = {s.key: s for s in run.steps}
    assert marker.read_text() == "installed\n" and steps["steps.0"].attempt == 1  # never repeated
    assert any(n.startswith("taken over by ") for n in run.notes), run.notes
    if idempotent:
        assert run.state == "committed", run.outcome
        assert steps["steps.1"].attempt == 2 and steps["steps.1"].state == "succeeded"
        assert service.get("/version").text == "2.0.0" and change_state(rt, ref) == "completed"
    else:
        assert run.state == "rolled_back", run.outcome
        assert any("interrupted" in n and "rolling back" in n for n in run.notes), run.notes
        assert steps["steps.1"].attempt == 1 and steps["steps.1"].state == "failed"
        assert steps["steps.1"].detail["message"].startswith("interrupted")
        assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "rolled_back"


def test_a_worker_killed_while_monitoring_is_taken_over_and_monitoring_carries_on(rt, service, policy_file,
                                                                                  database_url, tmp_path):
    """Early-life monitoring survives its worker: the rounds done are not repeated, the end stays the same."""
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""
steps: [{{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}]
checks:
  smoke: [{{name: health, http: {{url: "{service.url}/health"}}}}]
timing: {{check_after: 0s, monitor_for: 6s, monitor_every: 1s}}
rollback: {{cwd: {service.root}}}
""")
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
           "CHANGEGATE_USER": "rene.release"}
    first = _cli(env, "deploy", ref, "--env", "dev", "--plan", str(plan))
    deadline = time.monotonic() + 60
    while True:  # until the second round passed
        with rt.uow(write=False) as uow:
            try:
                run = runs.show_run(uow, rt.context("audrey.audit"), ref)
            except Exception:  # noqa: BLE001 - not created yet
                run = None
        if run and any(s.key == "monitor.2.smoke.health" and s.state == "succeeded" for s in run.steps):
            break
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read() if first.poll() else ""
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    until = run.monitor_until
    shown, _ = _cli(env, "run", "show", ref).communicate(timeout=60)  # nobody drives it now: still monitoring
    assert f"on dev: monitoring — every check passed: committed; early-life monitoring for 6 s" in shown
    assert f"  early-life monitoring until {until.isoformat(timespec='seconds')}" in shown
    second = _cli(env, "worker", "--max-runs", "1")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out
    with rt.uow(write=False) as uow:
        run = runs.show_run(uow, rt.context("audrey.audit"), ref)
    assert run.state == "committed", run.outcome
    assert any(n.startswith("taken over by ") and "in state monitoring" in n for n in run.notes), run.notes
    rounds = {s.key: s.attempt for s in run.steps if s.key.startswith("monitor.")}
    assert sorted(rounds) == [f"monitor.{n}.smoke.health" for n in range(1, 7)]
    assert rounds["monitor.1.smoke.health"] == rounds["monitor.2.smoke.health"] == 1  # not repeated
    assert run.monitor_until == until and change_state(rt, ref) == "completed"
