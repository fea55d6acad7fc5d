"""The CLI of deployment runs, locally (the CLI drives the run itself) and through --url (the server queues
the run, a worker drives it): plan errors with their line, the dry run, deploy, run show and log."""

from __future__ import annotations

import threading

import pytest
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.services import runs_worker

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, change_state, plan_for


@pytest.fixture
def cli(rt, policy_file, database_url, monkeypatch):
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(policy_file))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_a_plan_with_mistakes_is_refused_with_file_line_and_field(cli, rt, service, tmp_path):
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:\n  - name: install\n    shell: 'cp a b'\n    timeout: 30\n"
                    "  - name: stop db\n    manual: stop it\n    role: dba\nchecks:\n  smoke: []\n  perf: []\n")
    code, out, err = cli("--as", "rene.release", "plan", "attach", ref, str(plan))
    assert code == 2, out
    assert "error: plan.yaml: invalid deployment plan" in err
    assert "plan.yaml:4: steps.0.timeout: 30 is not a duration with a unit (write e.g. 30s, 15m, 1h30m, 250ms)" in err
    assert "plan.yaml:10: checks.perf: unknown field" in err
    plan.write_text("steps:\n  - name: stop db\n    manual: stop it\n    role: dba\n")
    code, _, err = cli("--as", "rene.release", "plan", "attach", ref, str(plan))
    assert code == 2 and "plan.yaml:4: steps.0.role: unknown role 'dba'" in err


def test_dry_run_prints_exactly_what_would_run_and_runs_nothing(cli, rt, service, tmp_path):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2"))
    code, out, err = cli("--as", "rene.release", "deploy", ref, "--env", "dev", "--plan", str(plan), "--dry-run")
    assert code == 0, err
    root = service.root
    assert [line.strip() for line in out.splitlines()[1:]] == [
        f"protect 1. snapshot: sh -c 'cp live/* backup/' (in {root})",
        f"step 1. install v2: run sh -c 'cp releases/v2/* live/' (in {root})",
        "wait 1 s (checks at T+1 s)",
        f"smoke check health: GET {service.url}/health expect 200 body containing 'ok'",
        "then: commit when every check passed; on a failed check: rollback".replace("passed", "passes"),
        f"rollback change rollback plan: run sh -c 'cp backup/* live/' (in {root})",
    ]
    assert service.get("/version").text == "1.0.0" and change_state(rt, ref) == "scheduled"


def test_deploy_locally_shows_progress_and_the_run(cli, rt, service, tmp_path):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2"))
    assert cli("--as", "rene.release", "plan", "attach", ref, str(plan))[0] == 0
    code, out, err = cli("--as", "rene.release", "deploy", ref, "--env", "dev")
    assert code == 0, out + err
    assert "started steps.0 install v2" in out and "run checking -> committed: every check passed" in out
    assert f"run 1 of {ref} on dev: committed" in out
    code, out, _ = cli("--as", "audrey.audit", "run", "log", ref)
    assert code == 0 and f"run 1 of {ref} on dev: committed" in out and "steps.0 install v2 (attempt 1): " \
        "succeeded exit 0 exit status 0" in out
    code, out, err = cli("--as", "rene.release", "rollback", ref, "--reason", "changed my mind")
    assert code == 2 and f"{ref} has no deployment run under way" in err


def test_deploy_through_the_api_is_queued_and_followed_while_a_worker_carries_it_out(cli, rt, rt_server, rt_tokens,
                                                                                    service, tmp_path):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2"))
    remote = ("--url", rt_server, "--token", rt_tokens["rene.release"])
    worker = threading.Thread(target=runs_worker.work, args=(rt, runs_worker.worker_id()), kwargs={"max_runs": 1})
    worker.start()
    code, out, err = cli(*remote, "deploy", ref, "--env", "dev", "--plan", str(plan))
    worker.join(60)
    assert code == 0, out + err
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "run 1 queued: a worker carries it out"  # then the streamed log, as it happens
    assert any(line.endswith("steps.0 install v2: succeeded exit status 0") for line in lines), out
    assert f"run 1 of {ref} on dev: committed — every check passed" in lines
    code, out, _ = cli(*remote, "run", "show", ref)
    assert code == 0 and f"run 1 of {ref} on dev: committed" in out
    code, out, _ = cli(*remote, "run", "log", ref)
    assert code == 0 and "checks.smoke.health health (attempt 1): succeeded exit 200 answered 200" in out
    assert service.get("/version").text == "2.0.0" and change_state(rt, ref) == "completed"


def test_deploy_through_the_api_with_no_follow_returns_once_queued(cli, rt, rt_server, rt_tokens, service, tmp_path):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2"))
    remote = ("--url", rt_server, "--token", rt_tokens["rene.release"])
    code, out, err = cli(*remote, "deploy", ref, "--env", "dev", "--plan", str(plan), "--no-follow")
    assert code == 0, out + err
    assert f"run 1 of {ref} on dev: queued" in out and "run 1 queued: a worker carries it out" in out
    assert runs_worker.work(rt, runs_worker.worker_id(), max_runs=1) == 1
    code, out, _ = cli(*remote, "run", "log", ref, "--follow")  # a finished run: its steps, then its end
    assert code == 0 and out.splitlines()[-1] == "run 1 committed: every check passed", out
    assert change_state(rt, ref) == "completed"


def test_on_a_terminal_deploy_shows_a_live_display_of_steps_states_durations_and_the_wait(rt, policy_file,
                                                                                        database_url, service,
                                                                                        tmp_path):
    """A real terminal (a pty): the live display names each step with its state and duration, the phase, and
    the time left until the checks at T+N."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import sys
    import termios

    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2").replace("check_after: 1s", "check_after: 3s"))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file),
           "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50"}
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "NO_COLOR"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "--as", "rene.release", "deploy", ref,
                             "--env", "dev", "--plan", str(plan)], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(60) == 0
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert re.search(r"steps\.0\s+install v2\s+succeeded\s+\d+\.\d+s", screen), screen
    assert re.search(r"run 1 of CHG-\d+ on dev: waiting for the checks — checks at T\+N in \ds", screen), screen
    assert "checks.smoke.health" in screen and f"run 1 of {ref} on dev: committed" in screen


def test_with_json_the_progress_lines_go_to_stderr_and_stdout_is_the_run(cli, rt, service, tmp_path):
    import json

    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_for(service, "v2"))
    code, out, err = cli("--as", "rene.release", "deploy", ref, "--env", "dev", "--plan", str(plan), "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "committed"
    assert "started steps.0 install v2" in err and "run checking -> committed: every check passed" in err


def test_rollback_cancels_a_queued_run_that_deployed_nothing(cli, rt, tmp_path):
    from changegate.schemas.runs import DeployIn, PlanIn
    from changegate.services import runs

    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:  # queued through the API, say, and no worker took it
        runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev", plan=PlanIn(
            text=f"steps: [{{name: install, shell: 'touch {tmp_path}/installed'}}]\n")))
    code, out, err = cli("--as", "rene.release", "rollback", ref, "--reason", "wrong window")
    assert code == 0, out + err
    assert ": cancelled — cancelled on rene.release's decision before anything was deployed: wrong window" in out
    assert change_state(rt, ref) == "rolled_back" and not (tmp_path / "installed").exists()
