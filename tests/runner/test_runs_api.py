"""The API of deployment runs: dry run (200), deploy queued (202) and carried out by a worker, the log
streamed until the run ends, and the errors of a bad plan with their lines."""

from __future__ import annotations

import threading

import httpx

from changegate.services import runs_worker

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK, plan_for


def test_deploy_queue_worker_and_the_streamed_log(rt, rt_server, rt_tokens, service):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    api = httpx.Client(base_url=rt_server + "/api/v1", timeout=60,
                       headers={"Authorization": f"Bearer {rt_tokens['rene.release']}"})
    bad = api.put(f"/changes/{ref}/plan", json={"filename": "p.yaml", "text": "steps:\n  - name: x\n    run: ls\n"})
    assert bad.status_code == 422 and bad.json()["reasons"][0]["message"].startswith("p.yaml:3: steps.0.run:")
    plan = {"filename": "plan.yaml", "text": plan_for(service, "v2")}
    dry = api.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": plan, "dry_run": True})
    assert dry.status_code == 200 and dry.json()["lines"][0].startswith("protect 1. snapshot:")
    queued = api.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": plan})
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    worker = threading.Thread(target=runs_worker.work, args=(rt, runs_worker.worker_id()), kwargs={"max_runs": 1})
    worker.start()
    with api.stream("GET", f"/changes/{ref}/run/log", params={"follow": "true"}) as streamed:
        lines = [line for line in streamed.iter_lines() if line]
    worker.join(60)
    assert lines[-1] == "run 1 committed: every check passed"
    assert any(line.endswith("steps.0 install v2: succeeded exit status 0") for line in lines)
    assert api.get(f"/changes/{ref}/run").json()["state"] == "committed"
    again = api.post(f"/changes/{ref}/rollback", json={"reason": "too late"})
    assert again.status_code == 404 and again.json()["message"] == f"{ref} has no deployment run under way"
