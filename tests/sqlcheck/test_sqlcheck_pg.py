"""PostgreSQL specifics: pg_dump schemas, PL/pgSQL, the unprivileged role, cleanup, the scratch server URL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from changegate.core.errors import InvalidInput
from changegate.core.sql.lint import analyse
from changegate.sqlcheck.check import SCRATCH_URL_ENV, check_sql
from changegate.sqlcheck.engines import PgScratch

pytestmark = pytest.mark.postgresql

PG = Path(__file__).parent / "sql" / "pg"
SCHEMA = (PG / "mes_dump.sql").read_text()


def check(cluster, deploy: str, rollback: str, verify: str | None = None, **kw):
    return check_sql("postgresql", SCHEMA, deploy, rollback, verify, cluster=cluster,
                     names={"schema": "mes_dump.sql", "deploy": "deploy.sql", "rollback": "rollback.sql",
                            "verify": "verify.sql"}, **kw)


def leftovers(cluster) -> tuple[list, list]:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        dbs = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'cg_sqlcheck_%'").fetchall()
        roles = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'cg_sqlcheck_%' "
                             "OR rolname = 'mes_reporting'").fetchall()
    return dbs, roles


def test_a_pg_dump_schema_loads_with_its_restrict_line_sets_and_copy_data(pg_cluster):
    assert "\n\\restrict " in SCHEMA and "\n\\unrestrict " in SCHEMA and "FROM stdin;" in SCHEMA
    assert "SELECT pg_catalog.set_config('search_path', '', false);" in SCHEMA
    script = analyse(SCHEMA, "postgresql", "schema", "mes_dump.sql")
    db = PgScratch(pg_cluster.dsn())
    try:
        db.load_schema(script)
        fp = db.fingerprint().entries
    finally:
        db.close()
    assert fp[("rows", "mes.labels")]["count"] == 2 and fp[("rows", "mes.production_lines")]["count"] == 3
    assert fp[("type", "mes.order_status")]["values"] == "'planned', 'released', 'running', 'done', 'cancelled'"
    assert ("extension", "pgcrypto") in fp and ("function", "mes.touch_updated_at()") in fp
    assert ("trigger", "trg_work_orders_touch on mes.work_orders") in fp
    assert fp[("column", "orders.quantity")]["type"] == "numeric(12,3)"
    assert fp[("column", "customers.id")]["identity"] == "always"
    assert ("view", "mes.open_work_orders") in fp and ("index", "ix_orders_created") in fp
    assert not any(k[0] == "function" and "crypt" in k[1] for k in fp)  # extension members are not listed
    assert any("15 ownership and privilege statements skipped" in n for n in db.notes)


def test_sql_built_at_run_time_still_cannot_reach_outside(pg_cluster):
    """The static scan cannot see through string concatenation; the unprivileged role stops it at run time."""
    deploy = "DO $$ BEGIN EXECUTE 'SELECT pg_read' || '_file(''/etc/hostname'')'; END $$;"
    assert analyse(deploy, "postgresql", "deploy", "deploy.sql").problems == []
    report = check(pg_cluster, deploy, "SELECT 1;")
    assert "permission denied for function pg_read_file" in report.properties["idempotent"].sentences[0]
    assert any("an unprivileged role" in n for n in report.notes)
    deploy = "DO $$ BEGIN EXECUTE 'CO' || 'PY (SELECT 1) TO PROGRAM ''id'''; END $$;"
    report = check(pg_cluster, deploy, "SELECT 1;")
    assert "pg_execute_server_program" in report.properties["idempotent"].sentences[0]


def test_plpgsql_functions_triggers_and_do_blocks_are_compared_by_definition(pg_cluster):
    deploy = """CREATE OR REPLACE FUNCTION mes.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'trg_labels_touch') THEN
        CREATE TRIGGER trg_labels_touch BEFORE UPDATE ON mes.labels FOR EACH ROW EXECUTE FUNCTION mes.touch_updated_at();
    END IF;
END $$;"""
    report = check(pg_cluster, deploy, "DROP TRIGGER IF EXISTS trg_labels_touch ON mes.labels;")
    assert report.properties["idempotent"].verdict == "pass"
    assert report.properties["reversible"].sentences[1:] == ["function mes.touch_updated_at() changed definition"]


def test_a_trigger_that_stamps_rows_makes_an_update_irreversible(pg_cluster):
    """Reverting the status does not bring back updated_at, which the schema's trigger set to now()."""
    report = check(pg_cluster,
                   "UPDATE mes.work_orders SET status = 'running' WHERE status = 'released';",
                   "UPDATE mes.work_orders SET status = 'released' WHERE status = 'running';")
    assert report.properties["idempotent"].verdict == "pass"
    assert report.properties["reversible"].sentences[1:] == [
        "table mes.work_orders has different contents (same number of rows: 3)"]


def test_enum_values_cannot_be_rolled_back(pg_cluster):
    report = check(pg_cluster, "ALTER TYPE mes.order_status ADD VALUE IF NOT EXISTS 'blocked';", "SELECT 1;")
    assert report.properties["reversible"].sentences[1:] == ["type mes.order_status changed values ('blocked' added)"]


def test_a_failed_concurrent_index_build_leaves_an_invalid_index(pg_cluster):
    deploy = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ux_lines_plant ON mes.production_lines (plant);"
    report = check(pg_cluster, deploy, "DROP INDEX CONCURRENTLY IF EXISTS mes.ux_lines_plant;")
    assert report.properties["idempotent"].sentences[1:] == [
        "deploy.sql is NOT atomic, but it failed at its first statement, leaving the database half-changed:",
        "index mes.ux_lines_plant was created (INVALID: a failed CREATE INDEX CONCURRENTLY leaves one behind)"]


def test_copy_from_stdin_in_a_deploy_script(pg_cluster):
    deploy = ("CREATE TABLE IF NOT EXISTS mes.shifts (code char(1) PRIMARY KEY, starts time NOT NULL);\n"
              "COPY mes.shifts (code, starts) FROM stdin;\nA\t06:00\nB\t14:00\nC\t22:00\n\\.\n")
    report = check(pg_cluster, deploy, "DROP TABLE IF EXISTS mes.shifts;")
    assert report.properties["reversible"].verdict == "pass"
    assert "COPY … FROM stdin loads the rows again on every run" in report.properties["lint"].sentences[1]
    assert report.properties["idempotent"].sentences[0].startswith("deploy.sql failed on its second run: statement 2")
    assert "duplicate key" in report.properties["idempotent"].sentences[0]


def test_a_script_wrapped_in_its_own_transaction_is_atomic(pg_cluster):
    rollback = "BEGIN;\nDROP TABLE IF EXISTS mes.shifts;\nCOMMIT;\n"
    report = check(pg_cluster, "CREATE TABLE IF NOT EXISTS mes.shifts (code char(1) PRIMARY KEY);", rollback)
    assert report.atomic["rollback"]["atomic"] is True and report.atomic["rollback"]["execution"] == "own_transactions"
    assert report.passed


def test_grants_to_roles_the_scratch_server_lacks_work_and_nothing_is_left_behind(pg_cluster):
    report = check(pg_cluster, (PG / "chg1042_deploy.sql").read_text(), (PG / "chg1042_rollback.sql").read_text())
    assert report.passed
    assert "placeholder roles created for the check: mes_reporting" in report.notes
    with pytest.raises(InvalidInput):  # a check that stops half-way still cleans up
        check_sql("postgresql", "GRANT SELECT ON x TO mes_reporting;\nCREATE TABLE t (a int);\nSELECT nope;",
                  "GRANT SELECT ON t TO mes_reporting;", "SELECT 1;", cluster=pg_cluster)
    assert leftovers(pg_cluster) == ([], [])


def test_the_scratch_server_url_is_used_when_no_cluster_is_given(pg_cluster, monkeypatch):
    monkeypatch.setenv(SCRATCH_URL_ENV, pg_cluster.url())  # SQLAlchemy style: postgresql+psycopg://…
    report = check_sql("postgresql", SCHEMA, (PG / "chg1042_deploy.sql").read_text(),
                       (PG / "chg1042_rollback.sql").read_text())
    assert report.passed
    assert "cluster_start" not in report.timings
    assert leftovers(pg_cluster) == ([], [])
