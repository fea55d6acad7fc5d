"""A worker that loses its lease, or stops, stops the command it is running: the step's whole process group is
killed (SIGTERM, then SIGKILL), nothing is recorded as if the step had ended, and whoever takes the run over
applies the durable rules. Real processes: the step starts a grandchild that sleeps and writes its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from changegate.schemas.runs import DeployIn, PlanIn
from changegate.services import runs, runs_worker

from runner_support import _free_port, scheduled_dev_change


def _plan(pidfile: Path, *, idempotent: bool = False) -> str:
    # The shell starts a grandchild and waits for it: only a kill of the whole group ends both.
    return (f"steps:\n  - name: long\n    shell: 'sleep 120 & echo $! > {pidfile}; wait'\n"
            f"    idempotent: {'true' if idempotent else 'false'}\n    timeout: 300s\n")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _queue(rt, plan: str) -> tuple[str, int]:
    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev", plan=PlanIn(text=plan)))
    return ref, run.id


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting: {what}")


def _pid(pidfile: Path) -> int:
    return _wait(lambda: pidfile.exists() and pidfile.read_text().strip() and int(pidfile.read_text()),
                 "the step wrote its pid")


def _step(rt, run_id: int, key: str = "steps.0"):
    with rt.uow(write=False) as uow:
        return uow.runs.step(run_id, key)


def _run(rt, run_id: int):
    with rt.uow(write=False) as uow:
        return uow.runs.get(run_id)


def _events(rt, ref: str) -> list[dict]:
    from changegate.services import changes

    with rt.uow(write=False) as uow:
        return [e.model_dump() for e in changes.history(uow, rt.context("audrey.audit"), ref)]


def _drive_in_thread(rt, run_id: int, worker: str) -> tuple[threading.Thread, dict]:
    assert runs_worker.claim(rt, worker, run_id) == run_id
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(state=runs.drive(rt, run_id, worker)), daemon=True)
    thread.start()
    return thread, result


def test_a_worker_whose_lease_is_taken_kills_its_command_and_records_nothing(rt, tmp_path):
    pidfile = tmp_path / "pid"
    ref, run_id = _queue(rt, _plan(pidfile))
    thread, result = _drive_in_thread(rt, run_id, "old-worker")
    pid = _pid(pidfile)
    assert _alive(pid) and _step(rt, run_id).state == "running"

    with rt.uow() as uow:  # another worker takes the run (as after an expiry it would)
        uow.runs.set_lease(uow.runs.lock(run_id), "new-worker", rt.clock(), 600)

    thread.join(30)  # the old worker's next renewal (a third of the 5 s lease) finds the lease lost
    assert not thread.is_alive()
    assert not _alive(pid), "the command of a worker that lost its lease still runs"
    step = _step(rt, run_id)
    assert (step.state, step.attempt, step.ended_at, step.worker) == ("running", 1, None, "old-worker")
    run = _run(rt, run_id)
    assert (run.state, run.lease_owner) == ("deploying", "new-worker")  # the old worker wrote nothing more
    assert result["state"].value == "deploying"
    ends = [e for e in _events(rt, ref) if e["action"] in ("run.step_succeeded", "run.step_failed", "run.released")]
    assert ends == []


@pytest.mark.parametrize("idempotent", [False, True], ids=["not-idempotent", "idempotent"])
def test_a_stopping_worker_kills_its_commands_gives_the_lease_back_and_the_run_is_taken_over(rt, tmp_path,
                                                                                            idempotent):
    pidfile = tmp_path / "pid"
    ref, run_id = _queue(rt, _plan(pidfile, idempotent=idempotent))
    thread, result = _drive_in_thread(rt, run_id, "stopping-worker")
    pid = _pid(pidfile)

    assert runs_worker.stop_driving("a test stops the worker", rt=rt) == [run_id]
    assert not _alive(pid)  # gone when stop_driving returns
    thread.join(30)
    assert not thread.is_alive()
    step = _step(rt, run_id)
    assert (step.state, step.ended_at) == ("running", None)  # not recorded as ended
    run = _run(rt, run_id)
    assert run.state == "deploying" and run.lease_owner is None  # given back: the next worker need not wait
    assert any("stopped driving the run: a test stops the worker" in n for n in run.notes), run.notes

    pidfile.unlink()
    if idempotent:  # run again by the next worker: stop that one too, the test only needs the rerun
        second, _ = _drive_in_thread(rt, run_id, "next-worker")
        _pid(pidfile)
        assert _step(rt, run_id).attempt == 2
        runs_worker.stop_driving("done", rt=rt)
        second.join(30)
        return
    assert runs_worker.claim(rt, "next-worker") == run_id  # at once: no lease to wait for
    assert runs.drive(rt, run_id, "next-worker").value == "rolled_back"
    step = _step(rt, run_id)
    assert (step.state, step.attempt) == ("failed", 1) and step.detail["message"].startswith("interrupted")
    assert not pidfile.exists()  # never started again


@contextmanager
def _serving(rt, database_url, policy_file, rt_tokens, tmp_path, *, worker: bool = False):
    """A real ``changegate serve`` (and, with ``worker``, a ``changegate worker`` beside it) on the test's
    database, a change ready to deploy, and an API client as rene.release once the server answers. Yields
    (processes, client, ref); processes still running at the end are killed."""
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(policy_file)}
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    started = [subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)]
    if worker:
        started.append(subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "worker"], env=env,
                                        stdout=log, stderr=subprocess.STDOUT))
    try:
        ref = scheduled_dev_change(rt, "true")
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                           headers={"Authorization": f"Bearer {rt_tokens['rene.release']}"})

        def up() -> bool:
            try:
                return api.get("/me").status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, "the server answers")
        yield started, api, ref
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        log.close()


def test_stopping_the_worker_inside_serve_kills_the_command_of_the_run_it_drives(rt, database_url, policy_file,
                                                                                  rt_tokens, tmp_path):
    """A real ``changegate serve`` (SQLite: its worker; PostgreSQL: a ``changegate worker`` beside it) stopped
    with SIGTERM while a step runs: the command is gone, and the run waits for the next worker, its lease
    given back."""
    pidfile = tmp_path / "pid"
    with _serving(rt, database_url, policy_file, rt_tokens, tmp_path,
                  worker=database_url.startswith("postgresql")) as (started, api, ref):
        queued = api.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": {
            "filename": "plan.yaml", "text": _plan(pidfile)}})
        assert queued.status_code == 202, queued.text
        pid = _pid(pidfile)
        assert _alive(pid)
        stopping = started[-1]  # the process whose worker drives the run
        stopping.send_signal(signal.SIGTERM)
        stopping.wait(60)
        assert not _alive(pid), "the command outlived the worker that ran it"
        run = _run(rt, queued.json()["id"])
        assert run.state == "deploying" and run.lease_owner is None, (run.state, run.lease_owner)
        assert _step(rt, run.id).ended_at is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_stops_its_runs_on_sigterm_even_while_someone_follows_a_log(rt, database_url, policy_file, rt_tokens,
                                                                         tmp_path):
    """A followed log stays open until the run rests, and uvicorn waits for open responses on SIGTERM: the wait
    is bounded, so serve still stops, and its worker kills the step's command, while a client follows."""
    pidfile = tmp_path / "pid"
    with _serving(rt, database_url, policy_file, rt_tokens, tmp_path) as ([serve], api, ref):
        queued = api.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": {
            "filename": "plan.yaml", "text": _plan(pidfile)}})
        assert queued.status_code == 202, queued.text
        pid = _pid(pidfile)
        following = threading.Event()

        def follow() -> None:
            try:
                with api.stream("GET", f"/changes/{ref}/run/log", params={"follow": "true"},
                                timeout=httpx.Timeout(120)) as stream:
                    following.set()
                    for _ in stream.iter_lines():
                        pass
            except httpx.HTTPError:
                pass  # cut by the stopping server: expected

        threading.Thread(target=follow, daemon=True).start()
        assert following.wait(30)
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)  # raises TimeoutExpired if serve waits for the follower
        assert not _alive(pid), "the command outlived the server that ran it"
        assert _run(rt, queued.json()["id"]).lease_owner is None


def _rollback(rt, ref, person="rene.release"):
    from changegate.schemas.runs import RollbackIn

    with rt.uow() as uow:
        return runs.request_rollback(uow, rt.context(person), ref, RollbackIn(reason="not today"))


def _change_state(rt, ref) -> str:
    from changegate.services.lookup import load

    with rt.uow(write=False) as uow:
        return load(uow, ref).state


def test_a_person_cancels_a_queued_run_that_no_worker_took(rt, tmp_path):
    ref, run_id = _queue(rt, f"steps: [{{name: install, shell: 'touch {tmp_path}/installed'}}]\n")
    out = _rollback(rt, ref)
    assert out.state == "cancelled" and out.lease_owner is None and out.ended_at is not None
    assert out.outcome == "cancelled on rene.release's decision before anything was deployed: not today"
    assert _change_state(rt, ref) == "rolled_back"
    actions = [e["action"] for e in _events(rt, ref)]
    assert actions[-3:] == ["run.cancel_requested", "run.cancelled", "change.roll_back"]
    assert runs_worker.claim(rt, "late-worker") is None  # ended: no worker takes it
    assert not (tmp_path / "installed").exists()


def test_cancelling_a_queued_rehearsal_leaves_its_change_as_it_was(rt, tmp_path):
    """A rollback rehearsal never moves its change: cancelling one ends the run and leaves the change scheduled,
    with no note of a refused move."""
    ref = scheduled_dev_change(rt, "true")
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(
            environment="dev", rehearse_rollback=True, plan=PlanIn(text="steps: [{name: a, shell: 'true'}]\n")))
    out = _rollback(rt, ref)
    assert out.state == "cancelled"
    assert _change_state(rt, ref) == "scheduled"
    with rt.uow(write=False) as uow:
        assert uow.runs.get(run.id).notes == []
    assert [e["action"] for e in _events(rt, ref)][-2:] == ["run.cancel_requested", "run.cancelled"]


def test_a_person_cancels_a_protecting_run_its_protect_command_is_stopped_and_nothing_deploys(rt, tmp_path):
    pidfile = tmp_path / "pid"
    plan = (f"protect:\n  - {{name: snapshot, shell: 'sleep 120 & echo $! > {pidfile}; wait'}}\n"
            f"steps: [{{name: install, shell: 'touch {tmp_path}/installed'}}]\n")
    ref, run_id = _queue(rt, plan)
    thread, result = _drive_in_thread(rt, run_id, "worker")
    pid = _pid(pidfile)
    out = _rollback(rt, ref)
    assert out.state == "cancelled" and _change_state(rt, ref) == "rolled_back"
    thread.join(30)  # the worker's next renewal finds its lease taken: it kills the protect command
    assert not thread.is_alive() and result["state"].value == "cancelled"
    assert not _alive(pid)
    step = _step(rt, run_id, "protect.0")
    assert step.state == "failed" and step.detail["message"] == "stopped: rene.release cancelled the run"
    assert _step(rt, run_id) is None and not (tmp_path / "installed").exists()  # nothing deployed
    assert _run(rt, run_id).state == "cancelled"
