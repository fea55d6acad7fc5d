"""The lint's rules, one by one: each fires on what it is about (positive) and stays quiet on the safe
form (negative). Findings are read by rule code on scripts of one or a few statements."""

from __future__ import annotations

import pytest

from changegate.core.sql.lint import analyse
from changegate.core.sql.rules import RULES

TIMEOUT = "SET lock_timeout = '5s';\n"


def findings(sql: str, engine: str = "postgresql", code: str | None = None):
    found = analyse(sql, engine, "deploy", "d.sql").findings
    return [f for f in found if code is None or f.code == code]


def test_every_rule_has_a_code_a_severity_engines_and_verbs():
    assert len(RULES) >= 20
    for r in RULES:
        assert r.code and r.severity in ("error", "warning", "info") and r.verbs, r
        assert r.engines <= {"postgresql", "sqlite"} and r.engines, r
    assert len({r.name for r in RULES}) == len(RULES)  # one function per rule


# rule function name, a statement it flags, one it does not, engine
CASES = [
    ("create_index_without_name", "CREATE INDEX ON t (a)", "CREATE INDEX IF NOT EXISTS ix ON t (a)", "sqlite"),
    ("create_without_if_not_exists", "CREATE TABLE t (a int)", "CREATE TABLE IF NOT EXISTS t (a int)", "postgresql"),
    ("create_without_if_not_exists", "CREATE VIEW v AS SELECT 1", "DROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT 1",
     "sqlite"),
    ("create_without_or_replace", "CREATE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW v AS SELECT 1", "postgresql"),
    ("create_without_drop_first", "CREATE DOMAIN qty AS int", "DROP DOMAIN IF EXISTS qty;\nCREATE DOMAIN qty AS int",
     "postgresql"),
    ("drop_without_if_exists", "DROP VIEW v", "DROP VIEW IF EXISTS v", "sqlite"),
    ("alter_type_not_repeatable", "ALTER TYPE s ADD VALUE 'x'", "ALTER TYPE s ADD VALUE IF NOT EXISTS 'x'",
     "postgresql"),
    ("alter_rename_not_repeatable", "ALTER INDEX ix RENAME TO iy", "ALTER INDEX IF EXISTS ix RENAME TO iy",
     "postgresql"),
    ("alter_table_rename", "ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE IF EXISTS t RENAME TO u", "postgresql"),
    ("add_constraint_not_repeatable", "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
     "ALTER TABLE t DROP CONSTRAINT IF EXISTS c, ADD CONSTRAINT c CHECK (a > 0) NOT VALID", "postgresql"),
    ("add_column_without_if_not_exists", "ALTER TABLE t ADD COLUMN b int", "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int",
     "postgresql"),
    ("drop_column_without_if_exists", "ALTER TABLE t DROP COLUMN b", "ALTER TABLE t DROP COLUMN IF EXISTS b",
     "postgresql"),
    ("insert_without_guard", "INSERT INTO t (a) VALUES (1)", "INSERT OR IGNORE INTO t (a) VALUES (1)", "sqlite"),
    ("insert_without_guard", "INSERT INTO t (a) SELECT a FROM u",
     "INSERT INTO t (a) SELECT a FROM u WHERE a NOT IN (SELECT a FROM t)", "postgresql"),
    ("copy_from_stdin", "COPY t (a) FROM stdin;\n1\n\\.\n", "COPY t (a) TO stdout", "postgresql"),
    ("select_into", "SELECT * INTO t2 FROM t", "SELECT * FROM t", "postgresql"),
    ("update_from_own_value", "UPDATE t SET a = a + 1 WHERE b = 2", "UPDATE t SET a = 3 WHERE b = 2", "sqlite"),
    ("drop_deletes_data", "DROP TABLE IF EXISTS t", "DROP VIEW IF EXISTS v", "postgresql"),
    ("drop_column_deletes_data", "ALTER TABLE t DROP COLUMN IF EXISTS b",
     "ALTER TABLE t DROP CONSTRAINT IF EXISTS c", "postgresql"),
    ("every_row", "DELETE FROM t", "DELETE FROM t WHERE a = 1", "sqlite"),
    ("truncate", "TRUNCATE t", "SELECT 1", "postgresql"),
    ("do_block", "DO $$ BEGIN NULL; END $$", "SELECT 1", "postgresql"),
    ("create_index_without_concurrently", "CREATE INDEX IF NOT EXISTS ix ON t (a)",
     "CREATE TABLE IF NOT EXISTS n (a int);\nCREATE INDEX IF NOT EXISTS ix ON n (a)", "postgresql"),
    ("add_constraint_with_a_scan", "ALTER TABLE t DROP CONSTRAINT IF EXISTS f, ADD CONSTRAINT f FOREIGN KEY (a) "
     "REFERENCES u (id)", "ALTER TABLE t DROP CONSTRAINT IF EXISTS f, ADD CONSTRAINT f FOREIGN KEY (a) "
     "REFERENCES u (id) NOT VALID", "postgresql"),
    ("add_column_rewrites_table", "ALTER TABLE t ADD COLUMN IF NOT EXISTS u uuid DEFAULT gen_random_uuid()",
     "ALTER TABLE t ADD COLUMN IF NOT EXISTS s timestamptz DEFAULT now()", "postgresql"),
    ("add_not_null_column_without_default", "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL",
     "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL DEFAULT 0", "postgresql"),
    ("alter_column_type", "ALTER TABLE t ALTER COLUMN a TYPE bigint", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1",
     "postgresql"),
    # squawk's rules
    ("drop_index_without_concurrently", "DROP INDEX IF EXISTS ix", "DROP INDEX CONCURRENTLY IF EXISTS ix",
     "postgresql"),
    ("drop_index_without_concurrently", "DROP INDEX IF EXISTS ix",
     "CREATE TABLE IF NOT EXISTS n (a int);\nCREATE INDEX IF NOT EXISTS ix ON n (a);\nDROP INDEX IF EXISTS ix",
     "postgresql"),
    ("set_not_null", "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
     "ALTER TABLE t DROP CONSTRAINT IF EXISTS a_nn, ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL", "postgresql"),
    ("set_not_null", "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
     "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL", "postgresql"),
    ("strong_lock_without_timeout", "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int",
     TIMEOUT + "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int", "postgresql"),
    ("strong_lock_without_timeout", "TRUNCATE t",
     "SELECT set_config('statement_timeout', '30s', false);\nTRUNCATE t", "postgresql"),
    ("strong_lock_without_timeout", "CREATE INDEX IF NOT EXISTS ix ON t (a)",
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON t (a)", "postgresql"),
    ("strong_lock_without_timeout", "DROP TABLE IF EXISTS t",
     "CREATE TABLE IF NOT EXISTS t (a int);\nDROP TABLE IF EXISTS t", "postgresql"),
]


def _hits(name: str, sql: str, engine: str):
    r = next(r for r in RULES if r.name == name)
    return [f for f in findings(sql, engine, r.code) if f.severity == r.severity], r


@pytest.mark.parametrize("name, flagged, safe, engine", CASES)
def test_each_rule_flags_its_case_and_not_the_safe_form(name, flagged, safe, engine):
    hits, r = _hits(name, flagged, engine)
    assert hits, (name, findings(flagged, engine))
    assert all(f.excerpt and f.line >= 1 for f in hits)
    safe_hits, _ = _hits(name, safe, engine)
    # the safe form may hold other findings of the same code (another rule's); none from this rule's message
    assert not [f for f in safe_hits if f.message.split()[:2] == hits[0].message.split()[:2]], safe_hits


def test_a_lock_timeout_finding_comes_once_per_script_and_a_reset_brings_it_back():
    sql = "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int;\nALTER TABLE u ADD COLUMN IF NOT EXISTS c int;"
    assert [f.line for f in findings(sql, code="lock_timeout")] == [1]
    assert findings(TIMEOUT + sql, code="lock_timeout") == []
    assert [f.line for f in findings(TIMEOUT + "RESET lock_timeout;\n" + sql, code="lock_timeout")] == [3]
    assert [f.line for f in findings("SET lock_timeout = 0;\n" + sql, code="lock_timeout")] == [2]
    assert findings("ALTER TABLE t ADD COLUMN b INTEGER", "sqlite", "lock_timeout") == []  # PostgreSQL only


def test_set_not_null_is_not_judged_proven_by_a_check_still_not_valid():
    sql = ("ALTER TABLE t DROP CONSTRAINT IF EXISTS a_nn, ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
           "ALTER TABLE t ALTER COLUMN a SET NOT NULL")
    assert [f.line for f in findings(sql) if f.message.startswith("SET NOT NULL")] == [2]


def test_sqlite_advice_never_suggests_do_blocks():
    for sql in ("ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE t RENAME TO u", "CREATE DOMAIN d AS int",
                "ALTER TABLE t ADD COLUMN b INTEGER"):
        for f in analyse(sql, "sqlite", "deploy", "d.sql").findings + analyse(sql, "sqlite", "deploy", "d.sql").problems:
            assert "DO block" not in f.message, f
    [pg] = findings("ALTER TABLE t RENAME COLUMN a TO b", code="not_repeatable")
    assert "DO block" in pg.message
