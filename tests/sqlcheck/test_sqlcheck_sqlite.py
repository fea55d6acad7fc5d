"""SQLite specifics: sqlite3 .dump schemas, fingerprints from pragmas, the authorizer behind the static scan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from changegate.core.sql.lint import analyse
from changegate.sqlcheck.check import check_sql
from changegate.sqlcheck.engines import SqliteScratch

SCHEMA = (Path(__file__).parent / "sql" / "sqlite" / "mes_dump.sql").read_text()


@pytest.fixture
def scratch():
    db = SqliteScratch()
    yield db
    db.close()


def test_a_sqlite3_dump_with_its_own_transaction_loads(scratch):
    assert SCHEMA.startswith("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;") and SCHEMA.rstrip().endswith("COMMIT;")
    script = analyse(SCHEMA, "sqlite", "schema", "mes_dump.sql")
    assert script.execution == "own_transactions"
    scratch.load_schema(script)
    fp = scratch.fingerprint().entries
    assert fp[("rows", "work_orders")]["count"] == 3 and fp[("rows", "labels")]["count"] == 2
    assert fp[("column", "work_orders.status")] == {"table": "work_orders", "type": "text", "nullable": False,
                                                    "default": "'planned'", "position": 4}
    assert fp[("table", "work_orders")]["checks"].startswith("( status in (")
    assert fp[("foreign key", "labels(work_order_id) → work_orders(id)")]["on delete"] == "CASCADE"
    assert ("unique constraint", "orders(reference)") in fp
    assert ("trigger", "trg_work_orders_touch") in fp and ("view", "open_work_orders") in fp
    assert fp[("index", "ix_work_orders_line_status")]["definition"].endswith("where status <> 'done'")


def test_the_authorizer_refuses_other_files_even_if_the_scan_missed_them(scratch, tmp_path):
    conn = scratch._connect()
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute("SELECT load_extension('/tmp/evil.so')")
    finally:
        conn.close()
    assert not (tmp_path / "other.db").exists()


def test_a_lost_check_constraint_and_foreign_key_are_reported():
    schema = ("CREATE TABLE lines (id INTEGER PRIMARY KEY, code TEXT NOT NULL);\n"
              "CREATE TABLE stops (id INTEGER PRIMARY KEY, line_id INTEGER NOT NULL REFERENCES lines (id),\n"
              "                    minutes INTEGER NOT NULL CHECK (minutes >= 0));")
    deploy = ("CREATE TABLE IF NOT EXISTS stops_new (id INTEGER PRIMARY KEY, line_id INTEGER NOT NULL,\n"
              "                                     minutes INTEGER NOT NULL);\n"
              "INSERT OR IGNORE INTO stops_new SELECT id, line_id, minutes FROM stops;\n"
              "DROP TABLE IF EXISTS stops;\nALTER TABLE stops_new RENAME TO stops;")
    report = check_sql("sqlite", schema, deploy, "SELECT 1;")
    assert report.properties["reversible"].sentences[1:] == [
        "table stops changed checks from ( minutes >= 0 ) to none",
        "foreign key stops(line_id) → lines(id) missing"]
    # the lint thought the RENAME not repeatable; the script rebuilds the table, so the second run
    # succeeded and changed nothing: execution has the last word, the finding is a note saying so
    rename = next(f for f in report.findings if "RENAME fails on the second run" in f.message)
    assert rename.severity == "info" and "disproved by the run" in rename.message
    assert report.properties["lint"].verdict == "pass"


def test_the_catalog_read_in_bulk_keeps_every_kind_of_object(scratch):
    schema = ("CREATE TABLE lines (code TEXT NOT NULL, plant TEXT NOT NULL, name TEXT, PRIMARY KEY (plant, code))"
              " WITHOUT ROWID;\n"
              "CREATE TABLE \"Stops\" (id INTEGER PRIMARY KEY, plant TEXT NOT NULL, code TEXT NOT NULL,\n"
              "  minutes INTEGER NOT NULL DEFAULT (0) CHECK (minutes >= 0), doubled INTEGER AS (minutes * 2),\n"
              "  UNIQUE (plant, minutes), FOREIGN KEY (plant, code) REFERENCES lines (plant, code) ON DELETE CASCADE)"
              " STRICT;\n"
              "CREATE INDEX ix_stops_code ON \"Stops\" (code) WHERE minutes > 0;\n"
              "CREATE VIRTUAL TABLE notes USING fts5(body);\n"
              "INSERT INTO lines VALUES ('L1', 'P1', NULL);\n"
              "INSERT INTO \"Stops\" (plant, code, minutes) VALUES ('P1', 'L1', 5);")
    scratch.load_schema(analyse(schema, "sqlite", "schema", "s.sql"))
    fp = scratch.fingerprint().entries
    assert fp[("table", "lines")] == {"options": "without rowid"}
    assert fp[("table", "stops")] == {"options": "strict", "checks": "( minutes >= 0 )"}
    assert fp[("table", "notes")] == {"virtual": True} and ("rows", "notes") not in fp
    assert fp[("primary key", "lines(plant, code)")] == {"table": "lines"}
    assert fp[("unique constraint", "stops(plant, minutes)")] == {"table": "stops"}
    assert fp[("foreign key", "stops(plant, code) → lines(plant, code)")]["on delete"] == "CASCADE"
    assert fp[("column", "stops.minutes")] == {"table": "stops", "type": "integer", "nullable": False,
                                               "default": "0", "position": 4}
    assert fp[("column", "stops.doubled")]["generated"] == "virtual"
    assert fp[("column", "stops.id")]["primary key"] == 1
    assert fp[("index", "ix_stops_code")]["definition"].endswith("where minutes > 0")
    assert fp[("rows", "stops")]["count"] == 1 and fp[("rows", "lines")]["count"] == 1


def test_a_fingerprint_is_reused_only_when_nothing_was_committed(scratch):
    scratch.load_schema(analyse("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t VALUES (1, 'a');",
                                "sqlite", "schema", "s.sql"))
    first = scratch.fingerprint()
    assert scratch.fingerprint() is first and scratch.fingerprints_reused == 1

    def run(sql: str):
        outcome = scratch.run(analyse(sql, "sqlite", "deploy", "d.sql"))
        assert outcome.ok, outcome.error
        return scratch.fingerprint()

    assert run("UPDATE t SET v = 'b' WHERE id = 1 AND v <> 'a';") is first  # wrote nothing
    assert scratch.fingerprints_reused == 2
    changed = run("UPDATE t SET v = 'b' WHERE id = 1;")  # same row count, another value: seen
    assert changed is not first and scratch.fingerprints_reused == 2
    assert changed.entries[("rows", "t")]["count"] == 1
    assert changed.entries[("rows", "t")]["checksum"] != first.entries[("rows", "t")]["checksum"]
    # a change committed outside any run (another connection) is seen too
    conn = sqlite3.connect(scratch.path, isolation_level=None)
    conn.execute("UPDATE t SET v = 'a' WHERE id = 1")
    conn.close()
    assert scratch.fingerprint().entries == first.entries
    # in WAL mode the header is not kept current: nothing is reused, every change is still seen
    run("PRAGMA journal_mode = WAL;")
    reused = scratch.fingerprints_reused
    wal = scratch.fingerprint()
    conn = sqlite3.connect(scratch.path, isolation_level=None)
    conn.execute("UPDATE t SET v = 'c' WHERE id = 1")
    after = scratch.fingerprint()
    conn.close()
    assert scratch.fingerprints_reused == reused
    assert after.entries[("rows", "t")]["checksum"] != wal.entries[("rows", "t")]["checksum"]
    run("PRAGMA journal_mode = DELETE;")  # no connection of the check is left open to block it


def test_a_recreated_database_is_fingerprinted_anew(scratch):
    schema = analyse("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);", "sqlite", "schema", "s.sql")
    scratch.load_schema(schema)
    before = scratch.fingerprint()
    scratch.recreate()
    scratch.load_schema(analyse("CREATE TABLE t (id INTEGER PRIMARY KEY, w TEXT);", "sqlite", "schema", "s.sql"))
    after = scratch.fingerprint()  # same size, maybe the same inode and change counter: not reused
    assert scratch.fingerprints_reused == 0 and ("column", "t.w") in after.entries
    assert ("column", "t.w") not in before.entries


def test_a_second_run_that_changes_a_value_in_place_is_not_idempotent():
    schema = "CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);\nINSERT INTO counters VALUES (1, 0);"
    report = check_sql("sqlite", schema, "UPDATE counters SET n = n + 1 WHERE id = 1;",
                       "UPDATE counters SET n = 0 WHERE id = 1;")
    assert report.properties["idempotent"].verdict == "fail"
    assert "the second run changed rows of table counters (same number of rows: 1)" in \
        report.properties["idempotent"].sentences
    assert report.properties["reversible"].verdict == "pass"


def test_a_check_whose_second_runs_write_nothing_reuses_their_fingerprints_and_says_so():
    schema = "CREATE TABLE lines (id INTEGER PRIMARY KEY, plant TEXT NOT NULL);\nINSERT INTO lines VALUES (1, 'P1');"
    deploy = ("CREATE TABLE IF NOT EXISTS stops (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE);\n"
              "INSERT INTO stops (code) VALUES ('a'), ('b') ON CONFLICT (code) DO NOTHING;\n"
              "UPDATE lines SET plant = 'P2' WHERE id = 1 AND plant <> 'P2';")
    rollback = "DROP TABLE IF EXISTS stops;\nUPDATE lines SET plant = 'P1' WHERE id = 1 AND plant <> 'P1';"
    report = check_sql("sqlite", schema, deploy, rollback)
    assert report.passed
    assert "2 fingerprints were not read again: the run before each committed nothing (the database file was " \
           "unchanged)" in report.notes
    # and the reused fingerprints still judge: a rollback that leaves a value behind fails
    report = check_sql("sqlite", schema, deploy, "DROP TABLE IF EXISTS stops;")
    assert report.properties["reversible"].verdict == "fail"
    assert report.properties["idempotent"].verdict == "pass"


def test_a_plain_vacuum_runs_its_internal_temporary_database_is_allowed():
    """SQLite's VACUUM attaches a temporary database (no file name) internally: that ATTACH is allowed,
    during a VACUUM only."""
    report = check_sql("sqlite", "CREATE TABLE t (a INTEGER);\nINSERT INTO t VALUES (1);",
                       "DELETE FROM t WHERE a = 1;\nVACUUM;", "INSERT INTO t SELECT 1 WHERE NOT EXISTS "
                       "(SELECT 1 FROM t WHERE a = 1);\nVACUUM main;")
    assert [r.error for r in report.runs] == [None] * 4
    assert report.passed, report.to_dict()["properties"]


def test_outside_a_vacuum_even_a_temporary_database_cannot_be_attached(scratch):
    conn = scratch._connect()
    try:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute("ATTACH DATABASE '' AS temp_other")
    finally:
        conn.close()


def test_the_vacuum_allowance_does_not_let_vacuum_into_write_a_file(scratch, tmp_path):
    from changegate.sqlcheck.engines import _sqlite_vacuum_authorizer

    conn = scratch._connect()
    try:
        conn.set_authorizer(_sqlite_vacuum_authorizer)
        with pytest.raises(sqlite3.DatabaseError, match="authoriz"):
            conn.execute(f"VACUUM INTO '{tmp_path / 'copy.db'}'")
    finally:
        conn.close()
    assert not (tmp_path / "copy.db").exists()
