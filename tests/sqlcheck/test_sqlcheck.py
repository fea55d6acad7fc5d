"""The SQL check on real scratch databases, SQLite and PostgreSQL alike.

The fixture scripts in tests/runner/sql/{sqlite,pg}/ are the same changes to a plant's MES database
(production lines, customers, orders, work orders, labels, audit log) written for each engine;
the PostgreSQL schema is real ``pg_dump`` output (with its ``\\restrict`` line and COPY data).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from changegate.core.errors import InvalidInput
from changegate.sqlcheck.check import check_sql, scripts_digest

SQL = Path(__file__).parent / "sql"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def engine(request) -> str:
    return request.param


@pytest.fixture
def cluster(engine, request):
    return request.getfixturevalue("pg_cluster") if engine == "postgresql" else None


def fixture_text(engine: str, name: str) -> str:
    return (SQL / ("pg" if engine == "postgresql" else "sqlite") / f"{name}.sql").read_text()


@pytest.fixture
def check(engine, cluster):
    """check("chg1042_deploy", "chg1042_rollback", "chg1042_verify") on the MES schema of this engine."""

    def run(deploy: str, rollback: str, verify: str | None = None, schema: str = "mes_dump", **kw):
        names = {"schema": f"{schema}.sql", "deploy": f"{deploy}.sql", "rollback": f"{rollback}.sql",
                 "verify": f"{verify}.sql" if verify else None}
        return check_sql(engine, fixture_text(engine, schema), fixture_text(engine, deploy),
                         fixture_text(engine, rollback), fixture_text(engine, verify) if verify else None,
                         names=names, cluster=cluster, **kw)

    return run


@pytest.fixture
def check_inline(engine, cluster):
    def run(schema: str, deploy: str, rollback: str, verify: str | None = None, **kw):
        return check_sql(engine, schema, deploy, rollback, verify, cluster=cluster,
                         names={"schema": "schema.sql", "deploy": "deploy.sql", "rollback": "rollback.sql",
                                "verify": "verify.sql"}, **kw)

    return run


def verdicts(report) -> dict[str, str]:
    return {k: v.verdict for k, v in report.properties.items()}


def test_a_sound_change_passes_every_property(check, engine):
    report = check("chg1042_deploy", "chg1042_rollback", "chg1042_verify")
    assert verdicts(report) == {"lint": "pass", "idempotent": "pass", "reversible": "pass", "verify": "pass"}
    assert report.passed
    assert report.properties["idempotent"].sentences == [
        "chg1042_deploy.sql ran twice: the second run succeeded and changed nothing",
        "chg1042_rollback.sql ran twice: the second run succeeded and changed nothing"]
    assert report.properties["reversible"].sentences == [
        "after chg1042_deploy.sql then chg1042_rollback.sql the database equals the original (schema and rows)"]
    verify = report.properties["verify"].sentences
    assert verify[0] == "chg1042_verify.sql passes after deploy"
    assert verify[1].startswith("chg1042_verify.sql fails after chg1042_rollback.sql, as it should: statement 1 (line 2")
    # destructive statements of the rollback are listed for approvers, they do not fail the lint
    assert any(f.code == "destructive" and f.script == "chg1042_rollback.sql" for f in report.findings)
    assert all(entry["atomic"] for entry in report.atomic.values())
    assert [(r.role, r.run, r.ok) for r in report.runs] == [
        ("deploy", 1, True), ("verify", 1, True), ("deploy", 2, True), ("rollback", 1, True),
        ("verify", 2, False), ("rollback", 2, True)]
    assert report.fingerprints["before"] != report.fingerprints["after_deploy"]
    assert report.fingerprints["before"] == report.fingerprints["after_rollback"]
    for phase in ("lint", "schema", "fingerprint", "deploy_1", "deploy_2", "rollback_1", "rollback_2", "total"):
        assert report.timings[phase] >= 0
    assert json.loads(json.dumps(report.to_dict()))["passed"] is True


def test_scripts_sha256_keys_the_evidence_to_the_exact_scripts(check, engine):
    report = check("chg1042_deploy", "chg1042_rollback", "chg1042_verify")
    digests = report.scripts_sha256
    assert digests["deploy"] == hashlib.sha256(fixture_text(engine, "chg1042_deploy").encode()).hexdigest()
    assert digests == scripts_digest(engine, fixture_text(engine, "mes_dump"), fixture_text(engine, "chg1042_deploy"),
                                     fixture_text(engine, "chg1042_rollback"), fixture_text(engine, "chg1042_verify"))
    edited = scripts_digest(engine, fixture_text(engine, "mes_dump"), fixture_text(engine, "chg1042_deploy") + "\n",
                            fixture_text(engine, "chg1042_rollback"), fixture_text(engine, "chg1042_verify"))
    assert edited["combined"] != digests["combined"] and edited["rollback"] == digests["rollback"]
    other = "sqlite" if engine == "postgresql" else "postgresql"
    assert scripts_digest(other, fixture_text(engine, "mes_dump"), fixture_text(engine, "chg1042_deploy"),
                          fixture_text(engine, "chg1042_rollback"),
                          fixture_text(engine, "chg1042_verify"))["combined"] != digests["combined"]


def test_a_deploy_that_cannot_run_twice(check):
    report = check("chg1043_deploy_not_idempotent", "chg1043_rollback")
    assert verdicts(report) == {"lint": "fail", "idempotent": "fail", "reversible": "pass", "verify": "not_run"}
    lint = report.properties["lint"].sentences
    assert lint[0].startswith("2 statements are not safe to run twice")
    assert lint[1].startswith("chg1043_deploy_not_idempotent.sql line 2, column 1: CREATE TABLE")
    assert lint[2].startswith("chg1043_deploy_not_idempotent.sql line 8, column 1: CREATE INDEX ix_shift_notes_line")
    first = report.properties["idempotent"].sentences[0]
    assert first.startswith("chg1043_deploy_not_idempotent.sql failed on its second run: statement 1 "
                            "(line 2, column 1) failed:")
    assert "already exists" in first
    assert not report.passed


def test_a_deploy_whose_second_run_adds_rows_again(check):
    report = check("chg1044_deploy_audit_insert", "chg1044_rollback")
    idem = report.properties["idempotent"]
    assert idem.verdict == "fail"
    assert idem.sentences[:2] == ["the second run of chg1044_deploy_audit_insert.sql changed the database:",
                                  "the second run added 1 row to table audit_log"]
    assert idem.differences[0]["kind"] == "rows"
    assert (idem.differences[0]["before"], idem.differences[0]["after"]) == (2, 3)  # 1 seeded row + 1 per run
    # the rollback is judged from a copy deployed once, so it still passes
    assert report.properties["reversible"].verdict == "pass"
    assert any("tested on a fresh copy deployed once" in n for n in report.notes)


def test_a_rollback_that_forgets_objects(check, engine):
    if engine == "postgresql":
        report = check("chg1042_deploy", "chg1042_rollback_forgets_index")
        expected = ["column mes.work_orders.priority still exists", "index mes.ix_work_orders_priority still exists"]
    else:
        report = check("chg1042_deploy", "chg1042_rollback_keeps_table")
        expected = ["table line_stops still exists"]  # its index and trigger go with it: one sentence
    rev = report.properties["reversible"]
    assert rev.verdict == "fail"
    assert rev.sentences[0].endswith("the database differs from the original:")
    assert rev.sentences[1:] == expected
    assert report.properties["idempotent"].verdict == "pass"


def test_a_rollback_that_leaves_data_behind(check, engine):
    report = check("chg1042_deploy", "chg1042_rollback_leaves_row")
    table = "mes.production_lines" if engine == "postgresql" else "production_lines"
    assert report.properties["reversible"].sentences[1:] == [f"table {table} has 1 extra row"]


def test_a_rollback_that_does_not_restore_a_dropped_index(check):
    report = check("chg1046_deploy_drops_index", "chg1046_rollback_incomplete")
    assert report.properties["reversible"].sentences[1:] == ["index ix_orders_created missing"]
    assert report.properties["idempotent"].verdict == "pass"


def test_an_atomic_script_failing_half_way_leaves_nothing_applied(check):
    report = check("chg1045_deploy_fails_halfway", "chg1045_rollback")
    idem = report.properties["idempotent"].sentences
    assert idem[0].startswith("chg1045_deploy_fails_halfway.sql failed on its first run: statement 3 "
                              "(line 8, column 1) failed:")
    assert "foreign key" in idem[0].lower()
    assert idem[1] == "chg1045_deploy_fails_halfway.sql ran in one transaction, so none of it stayed applied"
    assert report.properties["reversible"].verdict == "not_run"
    assert report.atomic["deploy"]["atomic"] is True
    [run] = report.runs
    assert (run.ok, run.atomic, run.applied, run.statements) == (False, True, 2, 3)


def test_a_non_atomic_script_failing_half_way_reports_what_stayed_applied(check, engine):
    if engine == "postgresql":  # CREATE INDEX CONCURRENTLY cannot run in a transaction block
        report = check("chg1045_deploy_concurrently_fails_halfway", "chg1045_rollback")
        name = "chg1045_deploy_concurrently_fails_halfway.sql"
        assert report.properties["idempotent"].sentences[1:] == [
            f"{name} is NOT atomic: statements 1–3 of 4 stayed applied, leaving the database half-changed:",
            "table mes.shift_notes was created",
            "column mes.work_orders.shift was created",
            "index mes.ix_work_orders_shift was created"]
        assert report.atomic["deploy"]["execution"] == "statement_by_statement"
    else:  # the script commits its first transaction itself, then fails in the second
        report = check("chg1045_deploy_own_transactions_fails_halfway", "chg1045_rollback")
        name = "chg1045_deploy_own_transactions_fails_halfway.sql"
        assert report.properties["idempotent"].sentences[1:] == [
            f"{name} is NOT atomic: it failed at statement 6 of 7, and the transactions it committed before that "
            "stayed applied, leaving the database half-changed:",
            "table shift_notes was created"]
        assert report.atomic["deploy"]["execution"] == "own_transactions"
    assert report.atomic["deploy"]["atomic"] is False
    assert "NOT atomic" in report.atomic["deploy"]["how"]
    assert any(f.code == "not_atomic" and f.script == name for f in report.findings)


def test_a_verify_script_that_cannot_tell(check_inline, engine):
    schema = "CREATE TABLE orders (id integer PRIMARY KEY, reference text NOT NULL);"
    deploy = "CREATE TABLE IF NOT EXISTS order_notes (id integer PRIMARY KEY, note text);"
    rollback = "DROP TABLE IF EXISTS order_notes;"
    report = check_inline(schema, deploy, rollback, "SELECT count(*) FROM orders;")
    assert report.properties["verify"].verdict == "fail"
    assert report.properties["verify"].sentences[1] == ("verify.sql still passes after rollback.sql: it does not "
                                                        "notice that the change is gone")
    report = check_inline(schema, deploy, rollback, "SELECT missing_column FROM order_notes;")
    assert report.properties["verify"].verdict == "fail"
    assert report.properties["verify"].sentences[0].startswith("verify.sql fails after deploy: statement 1 "
                                                               "(line 1, column 8) failed:" if engine == "postgresql"
                                                               else "verify.sql fails after deploy: statement 1")


def test_a_sqitch_style_verify_with_its_own_transaction(check_inline):
    report = check_inline("CREATE TABLE orders (id integer PRIMARY KEY);",
                          "CREATE TABLE IF NOT EXISTS order_notes (id integer PRIMARY KEY, note text);",
                          "DROP TABLE IF EXISTS order_notes;",
                          "BEGIN;\nSELECT id, note FROM order_notes WHERE 1 = 0;\nROLLBACK;\n")
    assert report.properties["verify"].verdict == "pass"


def test_a_rollback_that_changes_a_column_type(check_inline, engine):
    schema = "CREATE TABLE orders (id integer PRIMARY KEY, quantity numeric(12,3) NOT NULL DEFAULT 1);"
    if engine == "postgresql":
        deploy = "ALTER TABLE orders ALTER COLUMN quantity TYPE numeric(14,3);"
        rollback = "ALTER TABLE orders ALTER COLUMN quantity TYPE numeric(14,4);"
        expected = "column orders.quantity changed type from numeric(12,3) to numeric(14,4)"
    else:  # SQLite keeps the declared type: a rebuild is the way to change it
        deploy = ("CREATE TABLE IF NOT EXISTS orders_new (id integer PRIMARY KEY, quantity numeric(14,3) NOT NULL "
                  "DEFAULT 1);\nINSERT OR IGNORE INTO orders_new SELECT * FROM orders;\nDROP TABLE IF EXISTS orders;\n"
                  "ALTER TABLE orders_new RENAME TO orders;")
        rollback = "SELECT 1;"
        expected = "column orders.quantity changed type from numeric(12,3) to numeric(14,3)"
    report = check_inline(schema, deploy, rollback)
    assert expected in report.properties["reversible"].sentences


def test_a_column_that_only_moved_is_a_note_not_a_failure(check_inline, engine):
    schema = ("CREATE TABLE orders (id integer PRIMARY KEY, note text, reference text NOT NULL);\n"
              "INSERT INTO orders VALUES (1, NULL, 'SO-1');")
    if engine == "postgresql":
        deploy, rollback = ("ALTER TABLE orders DROP COLUMN IF EXISTS note;",
                            "ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text;")
    else:  # SQLite has neither IF EXISTS here: the lint says so, the test is about the fingerprint
        deploy, rollback = "ALTER TABLE orders DROP COLUMN note;", "ALTER TABLE orders ADD COLUMN note text;"
    report = check_inline(schema, deploy, rollback)
    rev = report.properties["reversible"]
    assert rev.verdict == "pass"
    assert rev.sentences[1].startswith("note: column orders.note moved from position 2 to 3")


def test_fingerprints_ignore_creation_order_and_spelling(check_inline, engine):
    """A rollback that rebuilds objects in another order, with other spacing and case, restores the original."""
    schema = ("CREATE TABLE lines (id integer PRIMARY KEY, code text NOT NULL);\n"
              "CREATE TABLE stops (id integer PRIMARY KEY, line_id integer REFERENCES lines (id));\n"
              "CREATE INDEX ix_stops_line ON stops (line_id);\n"
              "INSERT INTO lines VALUES (1, 'L1'), (2, 'L2');\nINSERT INTO stops VALUES (10, 1), (11, 2);")
    deploy = "DROP TABLE IF EXISTS stops;\nDROP TABLE IF EXISTS lines;"
    rollback = ("CREATE TABLE IF NOT EXISTS lines (ID integer  PRIMARY KEY,\n  code TEXT NOT NULL);\n"
                "CREATE TABLE IF NOT EXISTS stops (id integer PRIMARY KEY, line_id INTEGER REFERENCES lines (id));\n"
                "INSERT INTO lines SELECT 2, 'L2' WHERE NOT EXISTS (SELECT 1 FROM lines WHERE id = 2);\n"
                "INSERT INTO lines SELECT 1, 'L1' WHERE NOT EXISTS (SELECT 1 FROM lines WHERE id = 1);\n"
                "INSERT INTO stops SELECT 11, 2 WHERE NOT EXISTS (SELECT 1 FROM stops WHERE id = 11);\n"
                "INSERT INTO stops SELECT 10, 1 WHERE NOT EXISTS (SELECT 1 FROM stops WHERE id = 10);\n"
                "create index if not exists ix_stops_line on stops(line_id);")
    report = check_inline(schema, deploy, rollback)
    assert report.properties["reversible"].verdict == "pass", report.properties["reversible"].sentences
    assert report.properties["idempotent"].verdict == "pass", report.properties["idempotent"].sentences


# --- usage errors -------------------------------------------------------------------------------

def test_refused_statements_stop_the_check_before_anything_runs(check_inline, engine, tmp_path):
    marker = tmp_path / "marker"
    if engine == "postgresql":
        deploy = f"CREATE TABLE IF NOT EXISTS t (a int);\nCOPY (SELECT 1) TO PROGRAM 'touch {marker}';\n"
        code = "refused_copy_program"
    else:
        deploy = f"CREATE TABLE IF NOT EXISTS t (a int);\nATTACH DATABASE '{marker}' AS other;\n"
        code = "refused_attach"
    with pytest.raises(InvalidInput) as exc:
        check_inline("CREATE TABLE orders (id integer PRIMARY KEY);", deploy, "DROP TABLE IF EXISTS t;")
    assert exc.value.message.startswith("deploy.sql line 2, column 1: ")
    assert [r.code for r in exc.value.reasons] == [code]
    assert exc.value.field == "deploy"
    assert not marker.exists()


def test_unparsable_sql_is_a_usage_error_with_line_and_column(check_inline):
    with pytest.raises(InvalidInput) as exc:
        check_inline("CREATE TABLE orders (id integer PRIMARY KEY);", "SELECT 1;",
                     "DELETE FROM orders WHERE id = 1;\nUPDATE orders SET note = WHERE id = 2;\n")
    assert exc.value.message.startswith("rollback.sql line 2, column 26: statement 2 does not parse near 'WHERE'")
    assert exc.value.field == "rollback"


def test_several_problems_are_all_listed(check_inline):
    with pytest.raises(InvalidInput) as exc:
        check_inline("CREATE TABLE orders (id integer PRIMARY KEY);",
                     "SELECT pg_read_file('/etc/passwd');\nSELECT lo_import('/etc/passwd');", "SELECT 1;",
                     "\\! id\n")
    assert exc.value.message.startswith("3 problems in the SQL scripts, the first: deploy.sql line 1, column 8")
    assert [(r.code) for r in exc.value.reasons] == ["refused_server_file", "refused_server_file",
                                                       "refused_meta_command"]


def test_a_schema_that_does_not_load_is_a_usage_error(check_inline):
    with pytest.raises(InvalidInput) as exc:
        check_inline("CREATE TABLE orders (id integer PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);",
                     "SELECT 1;", "SELECT 1;")
    # PostgreSQL says where in the statement (column 13: the table name), SQLite only which statement
    assert re.match(r"schema.sql could not be loaded into the scratch database: statement 2 \(line 2, column "
                    r"(1|13)\) failed: .*missing_table", exc.value.message)
    assert exc.value.field == "schema"


@pytest.mark.parametrize("deploy, message", [
    ("-- nothing here\n", "deploy.sql holds no SQL statement"),
    ("SELECT 'unterminated;\n", "deploy.sql line 1, column 8: unterminated string literal starting here"),
])
def test_empty_or_broken_deploy_is_a_usage_error(check_inline, deploy, message):
    with pytest.raises(InvalidInput) as exc:
        check_inline("CREATE TABLE orders (id integer PRIMARY KEY);", deploy, "SELECT 1;")
    assert exc.value.message == message


def test_unknown_engine_is_a_usage_error():
    with pytest.raises(InvalidInput) as exc:
        check_sql("oracle", "", "SELECT 1;", "SELECT 1;")
    assert exc.value.message == "unknown engine 'oracle': use postgresql or sqlite"


def test_a_script_that_runs_too_long_is_stopped(check_inline, engine):
    slow = ("SELECT pg_sleep(30);" if engine == "postgresql" else
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;")
    report = check_inline("CREATE TABLE orders (id integer PRIMARY KEY);", slow, "SELECT 1;", timeout=0.5)
    assert report.properties["idempotent"].sentences[0] == ("deploy.sql failed on its first run: statement 1 "
                                                            "(line 1, column 1) failed: timed out after 0.5 s")


# --- execution has the last word ----------------------------------------------------------------

GUARDED_BY_COUNT = "INSERT INTO t (a) SELECT 1 WHERE (SELECT count(*) FROM t) = 0;"  # repeatable, lint can't tell


def test_a_not_repeatable_finding_the_double_run_disproved_becomes_a_note(check_inline):
    report = check_inline("CREATE TABLE t (a integer);", GUARDED_BY_COUNT, "DELETE FROM t WHERE a = 1;")
    assert verdicts(report) == {"lint": "pass", "idempotent": "pass", "reversible": "pass", "verify": "not_run"}
    assert report.passed
    [finding] = [f for f in report.findings if f.code == "not_repeatable"]
    assert finding.severity == "info" and finding.script == "deploy.sql"
    assert finding.message.endswith("disproved by the run: deploy.sql ran twice in the check, the second run "
                                    "succeeded and changed nothing")
    assert report.properties["lint"].sentences == [
        "every statement parses; the run-twice test disproved 1 lint finding that a statement is not safe to run "
        "twice (0 warnings and 1 note for approvers)"]


def test_a_finding_stands_when_the_double_run_confirms_it(check_inline):
    report = check_inline("CREATE TABLE t (a integer);", "INSERT INTO t (a) VALUES (1);", "DELETE FROM t WHERE a = 1;")
    assert verdicts(report)["lint"] == "fail" and verdicts(report)["idempotent"] == "fail"
    [finding] = [f for f in report.findings if f.code == "not_repeatable"]
    assert finding.severity == "error" and "disproved" not in finding.message


def test_only_the_script_whose_double_run_succeeded_is_cleared(check_inline):
    """The deploy is proven repeatable; the rollback's second run adds a row again: its finding stands."""
    report = check_inline("CREATE TABLE t (a integer);\nCREATE TABLE log (a integer);", GUARDED_BY_COUNT,
                          "DELETE FROM t WHERE a = 1;\nINSERT INTO log (a) VALUES (1);")
    by_script = {f.script: f.severity for f in report.findings if f.code == "not_repeatable"}
    assert by_script == {"deploy.sql": "info", "rollback.sql": "error"}
    assert verdicts(report)["lint"] == "fail"


def test_the_report_states_the_scratch_databases_version_and_settings(check_inline, engine):
    report = check_inline("CREATE TABLE t (a integer);", "SELECT 1;", "SELECT 2;")
    scratch = report.to_dict()["scratch"]
    note = report.notes[0]
    if engine == "sqlite":
        assert scratch["version"].startswith("SQLite 3.") and scratch["foreign_keys"] == "on"
        assert note.startswith("scratch database: SQLite 3.") and "foreign_keys=on" in note
    else:
        assert scratch["version"].startswith("PostgreSQL ")
        assert {"lock_timeout", "statement_timeout", "search_path", "default_transaction_isolation"} <= set(scratch)
        assert note.startswith("scratch database: PostgreSQL ") and "lock_timeout=0" in note
