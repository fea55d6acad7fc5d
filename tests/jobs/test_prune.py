"""Pruning: finished background jobs past their retention (settings: 30 days after success, 90 after failure)
are deleted, by ``changegate jobs prune`` and by the workers themselves (at start, then hourly); younger ones
and unfinished ones stay. On PostgreSQL procrastinate's own finished jobs are pruned likewise. Both engines."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import text

from changegate import jobs

from test_background import _change, _sql, _work


def _age(runtime, job_id: int, days: float) -> None:
    """The job ended ``days`` ago (the test moves its end back in time instead of waiting)."""
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE background_jobs SET ended_at = :at WHERE id = :id"),
                     {"at": runtime.clock() - timedelta(days=days), "id": job_id})


def _changegate(runtime, *args: str) -> str:
    env = {"CHANGEGATE_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False),
           "CHANGEGATE_POLICY": str(runtime.settings.policy_path()), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "changegate.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_finished_jobs_past_their_retention_are_pruned_failed_ones_later(runtime, as_):
    dana, audrey = as_("dana.dev"), as_("audrey.audit")
    ref = _change(dana)
    checked = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite")).json()
    broken = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite", deploy="CREATE TABLE (;\n")).json()
    verified = audrey.post("/audit/verify/jobs", json={}).json()
    _work(runtime)
    recent = audrey.post("/audit/verify/jobs", json={}).json()
    _work(runtime)
    queued = audrey.post("/audit/verify/jobs", json={}).json()  # nobody carries it out: it stays, unfinished
    states = {j["id"]: audrey.get(f"/jobs/{j['id']}").json()["state"] for j in (checked, broken, verified, recent)}
    assert list(states.values()) == ["succeeded", "failed", "succeeded", "succeeded"], states
    for job in (checked, broken, verified):
        _age(runtime, job["id"], 31)
    _age(runtime, queued["id"], 400)  # an end in the past does not make a queued job finished

    pruned = json.loads(_changegate(runtime, "jobs", "prune", "--json"))
    assert (pruned["succeeded"], pruned["failed"]) == (2, 0), pruned
    gone = audrey.get(f"/jobs/{checked['id']}")
    assert gone.status_code == 404 and audrey.get(f"/jobs/{verified['id']}").status_code == 404
    assert audrey.get(f"/jobs/{broken['id']}").json()["state"] == "failed"  # failed: kept for 90 days
    assert audrey.get(f"/jobs/{recent['id']}").json()["state"] == "succeeded"
    assert audrey.get(f"/jobs/{queued['id']}").json()["state"] == "queued"

    _age(runtime, broken["id"], 91)
    _changegate(runtime, "worker", "--exit-when-idle")  # a worker prunes as it starts (then every hour); it
    # also carries out the queued job
    assert audrey.get(f"/jobs/{broken['id']}").status_code == 404
    assert audrey.get(f"/jobs/{recent['id']}").json()["state"] == "succeeded"
    assert audrey.get(f"/jobs/{queued['id']}").json()["state"] == "succeeded"
    assert ref in [c["ref"] for c in dana.get("/changes").json()["items"]]  # the evidence and the change stay


def test_procrastinate_finished_jobs_are_pruned_with_the_same_retention(runtime):
    if runtime.engine.dialect.name != "postgresql":
        assert jobs.prune(runtime) == {"succeeded": 0, "failed": 0}  # SQLite: no procrastinate tables
        return
    engine = jobs.engine_for(runtime)
    for job_id in (900001, 900002):  # two jobs nobody will carry out, cancelled: finished, not succeeded
        engine.dispatch_job(job_id)
    with runtime.engine.begin() as conn:
        ids = [row[0] for row in conn.execute(text(
            "SELECT id FROM procrastinate.procrastinate_jobs WHERE queueing_lock IN ('job-900001', 'job-900002') "
            "ORDER BY queueing_lock"))]
        assert len(ids) == 2
        conn.execute(text("SET LOCAL search_path TO procrastinate"))  # its functions name its tables bare
        for job_id, days in zip(ids, (91, 31)):
            conn.execute(text("SELECT procrastinate.procrastinate_cancel_job_v1(:id, false, false)"), {"id": job_id})
            conn.execute(text("UPDATE procrastinate.procrastinate_events SET at = now() - make_interval(days => :d) "
                              "WHERE job_id = :id"), {"d": days, "id": job_id})
    assert jobs.prune(runtime)["procrastinate"] is True
    with runtime.engine.connect() as conn:
        left = [row[0] for row in conn.execute(text("SELECT id FROM procrastinate.procrastinate_jobs "
                                                    "WHERE id = ANY(:ids)"), {"ids": ids})]
    assert left == [ids[1]]  # cancelled 91 days ago: pruned; 31 days ago: kept (failed, cancelled: 90 days)
