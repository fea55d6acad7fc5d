"""Where runs execute, the same tests on both engines: SQLite (a worker inside ``changegate serve``, or the
in-house loop of ``changegate worker``) and PostgreSQL (procrastinate workers). Real processes throughout."""

from __future__ import annotations

import signal
import socket

import httpx

from changegate import jobs
from changegate.services.tokens import create_token

from jobs_support import change_state, queue_run, ready_change, run_of, wait_until


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _counting_plan(folder, name: str, *, hold: bool = False, idempotent: bool = False) -> str:
    """Two steps, each appending a line to its own file (so executions can be counted); with ``hold``, the
    second waits while ``folder/hold`` exists."""
    wait = f"; while [ -f {folder}/hold ]; do sleep 0.05; done" if hold else ""
    return (f"steps:\n"
            f"  - {{name: first, shell: 'echo x >> {folder}/{name}.first'}}\n"
            f"  - name: second\n"
            f"    shell: 'echo x >> {folder}/{name}.second{wait}'\n"
            f"    idempotent: {'true' if idempotent else 'false'}\n")


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_deploy_queued_through_the_api_is_carried_out_without_anybody_starting_it(
        rt, database_url, cli_env, processes, tmp_path):
    """SQLite: ``serve`` alone carries the run out. PostgreSQL: ``serve`` and a ``worker``."""
    port = _free_port()
    serve_log = tmp_path / "serve.log"
    serve = processes(cli_env, "serve", "--port", str(port), log=serve_log)
    if database_url.startswith("postgresql"):
        processes(cli_env, "worker", log=tmp_path / "worker.log")
    with rt.uow() as uow:
        token = create_token(uow, rt.context("chris.change"), "rene.release", "test").secret
    ref = ready_change(rt)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {token}"},
                       timeout=30)

    def up():
        try:
            return api.get("/me").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, "the server answers", proc=serve, log=serve_log)
    queued = api.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": {
        "filename": "plan.yaml", "text": _counting_plan(tmp_path, "api")}})
    assert queued.status_code == 202 and queued.json()["state"] == "queued", queued.text
    wait_until(lambda: api.get(f"/changes/{ref}/run").json()["state"] == "committed", "the run commits",
               proc=serve, log=serve_log)
    assert change_state(rt, ref) == "completed"
    assert (_lines(tmp_path / "api.first"), _lines(tmp_path / "api.second")) == (1, 1)
    serve.send_signal(signal.SIGINT)  # stopped with the server: the process ends by itself
    assert serve.wait(30) == 0, serve_log.read_text()


def test_one_worker_process_drives_several_runs_at_once(rt, database_url, cli_env, processes, tmp_path):
    """Three runs each wait inside a step until all three are inside it: only a worker driving them at the
    same time lets them finish. Each is also dispatched three times (PostgreSQL: three procrastinate jobs per
    run, as a retried or duplicated job would be); each step still runs once: the lease decides."""
    (tmp_path / "go").mkdir()
    plan = (f"steps:\n  - name: meet\n    shell: 'echo x >> {tmp_path}/$CG_RUN.meet; touch {tmp_path}/go/$CG_RUN; "
            f"until [ $(ls {tmp_path}/go | wc -l) -ge 3 ]; do sleep 0.05; done'\n    timeout: 120s\n")
    queued = [queue_run(rt, plan.replace("$CG_RUN", f"r{i}")) for i in range(3)]
    for _ in range(3):
        jobs.dispatch_runs(rt, [run_id for _, run_id in queued])
    log = tmp_path / "worker.log"
    worker = processes(cli_env, "worker", "--concurrency", "3", "--max-runs", "3", log=log)
    assert worker.wait(180) == 0, log.read_text()
    for i, (ref, _) in enumerate(queued):
        assert run_of(rt, ref).state == "committed", log.read_text()
        assert _lines(tmp_path / f"r{i}.meet") == 1
    engine = "procrastinate" if database_url.startswith("postgresql") else "in-house lease loop"
    assert f"({engine}, 3 at once)" in log.read_text() and "drove 3 run(s)" in log.read_text()


def test_a_worker_killed_mid_run_is_replaced_by_another_that_finishes_the_run_once(
        rt, cli_env, processes, tmp_path):
    (tmp_path / "hold").touch()
    ref, run_id = queue_run(rt, _counting_plan(tmp_path, "k", hold=True, idempotent=True))
    workers = {}
    for name in ("a", "b"):
        proc = processes(cli_env, "worker", "--concurrency", "2", log=tmp_path / f"{name}.log")
        workers[proc.pid] = proc
    jobs.dispatch_run(rt, run_id)

    def inside_second():
        run = run_of(rt, ref)
        return run if any(s.key == "steps.1" and s.state == "running" for s in run.steps) else None

    first_owner = wait_until(inside_second, "a worker is inside the second step").lease_owner
    victim = workers[int(first_owner.split(":")[1])]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    (tmp_path / "hold").unlink()  # the killed worker's shell may finish now; its run is without a driver
    survivor = next(p for pid, p in workers.items() if p is not victim)
    wait_until(lambda: run_of(rt, ref).state == "committed", "the other worker finishes the run",
               proc=survivor, log=tmp_path / "b.log")
    run = run_of(rt, ref)
    steps = {s.key: s for s in run.steps}
    assert steps["steps.0"].attempt == 1 and _lines(tmp_path / "k.first") == 1  # a finished step never again
    assert steps["steps.1"].attempt == 2 and steps["steps.1"].worker.split(":")[1] == str(survivor.pid)
    assert any(n.startswith(f"taken over by {steps['steps.1'].worker}") for n in run.notes), run.notes
    assert change_state(rt, ref) == "completed"
