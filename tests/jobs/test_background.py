"""Long work moved off the HTTP request onto the job engine: the SQL check and the audit verification
answer 202 with a job, a worker of the engine carries it out, and the job's state, progress and result are
polled. Both engines: the in-house loop (SQLite) and procrastinate (PostgreSQL), each run as the worker."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from changegate import jobs

SCHEMA = ("CREATE TABLE work_orders (id INTEGER PRIMARY KEY, line TEXT NOT NULL, due DATE);\n"
          "INSERT INTO work_orders VALUES (1, 'line-1', '2026-12-01');\n")
DEPLOY = "CREATE INDEX IF NOT EXISTS ix_work_orders_due ON work_orders (due);\n"
ROLLBACK = "DROP INDEX IF EXISTS ix_work_orders_due;\n"


def _sql(engine: str, deploy: str = DEPLOY) -> dict:
    return {"engine": engine, "schema_sql": {"name": "schema.sql", "text": SCHEMA},
            "deploy": {"name": "deploy.sql", "text": deploy}, "rollback": {"name": "rollback.sql", "text": ROLLBACK}}


def _change(client) -> str:
    response = client.post("/changes", json={
        "title": "Index the work orders", "type": "normal", "category": "data", "release_level": "patch",
        "environment": "prod", "items": ["mes-db"], "impact_analysis": "Line 3 only.",
        "implementation_plan": "Run deploy.sql.", "verification_plan": "Query plan.",
        "rollback_plan": {"script": "run rollback.sql", "interpreter": "sh"},
        "planned_start": "2026-12-02T08:00:00Z", "estimated_downtime": "5m", "version": "1.0.0"})
    assert response.status_code == 201, response.text
    return response.json()["ref"]


def _work(runtime) -> None:
    """The engine's worker, in this process, until nothing is left to do."""
    jobs.engine_for(runtime).work(concurrency=2, exit_when_idle=True)


def test_the_sql_check_as_a_job_gives_the_synchronous_report_and_attaches_it(runtime, as_):
    dana = as_("dana.dev")
    ref = _change(dana)
    started = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite"))
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "queued" and job["kind"] == "sql_check" and started.headers["location"] == job["href"]
    _work(runtime)
    done = dana.get(job["href"].removeprefix("/api/v1")).json()
    assert done["state"] == "succeeded" and done["progress"]["phase"] == "succeeded", done
    assert done["result"]["passed"] is True and done["result"]["engine"] == "sqlite"
    kinds = sorted(e["kind"] for e in dana.get(f"/changes/{ref}").json()["evidence"])
    assert kinds == ["sql_check", "sql_deploy", "sql_rollback", "sql_schema"]
    assert "sql.checked" in [e["action"] for e in dana.get(f"/changes/{ref}/history").json()]
    # The synchronous endpoint answers as before, with the same report.
    same = dana.post(f"/changes/{ref}/sql-check", json=_sql("sqlite"))
    assert same.status_code == 200 and same.json()["scripts_sha256"] == done["result"]["scripts_sha256"]


def test_a_bad_script_fails_the_job_with_the_error_the_endpoint_gives(runtime, as_):
    dana = as_("dana.dev")
    ref = _change(dana)
    job = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite", deploy="CREATE TABLE (;\n")).json()
    _work(runtime)
    failed = dana.get(f"/jobs/{job['id']}").json()
    sync = dana.post(f"/changes/{ref}/sql-check", json=_sql("sqlite", deploy="CREATE TABLE (;\n"))
    assert failed["state"] == "failed" and failed["result"] is None
    assert sync.status_code == 422 and failed["error"]["message"] == sync.json()["message"], failed


def test_refusals_come_at_once_and_a_job_is_visible_only_to_its_owner_and_auditors(runtime, as_):
    dana, audrey, rene = as_("dana.dev"), as_("audrey.audit"), as_("rene.release")
    ref = _change(dana)
    refused = audrey.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite"))
    assert refused.status_code == 403, refused.text
    assert dana.post("/audit/verify/jobs", json={}).status_code == 403
    bad_anchor = audrey.post("/audit/verify/jobs", json={"anchors": ["nonsense"]})
    assert bad_anchor.status_code == 422 and "SEQ:HASH" in bad_anchor.json()["message"]
    job = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite")).json()
    assert audrey.get(f"/jobs/{job['id']}").status_code == 200  # auditors see every job
    assert rene.get(f"/jobs/{job['id']}").status_code == 404  # neither its owner nor an auditor
    assert dana.get("/jobs/99999").status_code == 404


def test_the_audit_verification_as_a_job_gives_the_verdict_and_its_progress(runtime, as_):
    dana, audrey = as_("dana.dev"), as_("audrey.audit")
    _change(dana)
    head = audrey.get("/audit/head").json()["anchor"]
    job = audrey.post("/audit/verify/jobs", json={"anchors": [head]})
    assert job.status_code == 202, job.text
    _work(runtime)
    done = audrey.get(f"/jobs/{job.json()['id']}").json()
    sync = audrey.get("/audit/verify", params={"anchor": head}).json()
    assert done["state"] == "succeeded" and done["result"]["ok"] is True
    assert {k: v for k, v in done["result"].items() if k != "head"} == {k: v for k, v in sync.items() if k != "head"}
    assert done["progress"]["total"] >= done["result"]["checked"] > 0  # events checked, of the chain's length


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_job_shows_its_progress_while_it_runs(runtime, as_):
    """The SQL check job writes its phase as it goes: while the test holds the audit chain's head (a row
    lock: PostgreSQL only, as SQLite's one writer would hold the progress writes too), the job's final write
    waits, and its progress says where it stands."""
    dana = as_("dana.dev")
    ref = _change(dana)
    job = dana.post(f"/changes/{ref}/sql-check/jobs", json=_sql("sqlite")).json()
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT * FROM audit_head FOR UPDATE"))
        worker = threading.Thread(target=_work, args=(runtime,))
        worker.start()
        while (seen := dana.get(f"/jobs/{job['id']}").json())["progress"]["phase"] != \
                "attaching the report and the scripts as evidence":
            assert seen["state"] in ("queued", "running"), seen
        assert seen["state"] == "running" and seen["started_at"] is not None
        conn.rollback()
    worker.join(60)
    assert dana.get(f"/jobs/{job['id']}").json()["state"] == "succeeded"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_job_whose_worker_is_killed_is_carried_out_by_the_next(rt, cli_env, processes, tmp_path):
    """kill -9 of the worker in the middle of a job (held, as above, before its final write): once its lease
    expires, another worker carries the job out again from the start; the evidence is attached once."""
    import signal

    from changegate.schemas.sqlcheck import SqlCheckIn
    from changegate.services import background

    from jobs_support import ready_change, wait_until

    ref = ready_change(rt)
    with rt.uow() as uow:
        job = background.start_sql_check(uow, rt.context("rene.release"), ref, SqlCheckIn(**_sql("sqlite")))

    def phase():
        with rt.uow(write=False) as uow:
            return background.get_job(uow, rt.context("audrey.audit"), job.id)

    with rt.engine.connect() as conn:
        conn.execute(text("SELECT * FROM audit_head FOR UPDATE"))
        first = processes(cli_env, "worker", log=tmp_path / "first.log")
        jobs.dispatch_job(rt, job.id)
        wait_until(lambda: phase().progress.phase == "attaching the report and the scripts as evidence",
                   "the first worker is inside the job", proc=first, log=tmp_path / "first.log")
        first.send_signal(signal.SIGKILL)
        first.wait()
        conn.rollback()
    second = processes(cli_env, "worker", log=tmp_path / "second.log")
    done = wait_until(lambda: (j := phase()).state in ("succeeded", "failed") and j, "the second worker ends it",
                      proc=second, log=tmp_path / "second.log")
    assert done.state == "succeeded" and done.attempts == 2, done
    with rt.uow(write=False) as uow:
        from changegate.services.lookup import load

        kinds = [e.kind for e in load(uow, ref).evidence]
    assert kinds.count("sql_check") == 1, kinds
