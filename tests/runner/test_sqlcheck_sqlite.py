"""SQLite specifics: sqlite3 .dump schemas, fingerprints from pragmas, the authorizer behind the static scan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from changegate.core.sqllint import analyse
from changegate.runner.sqlcheck import check_sql
from changegate.runner.sqlcheck_engines import SqliteScratch

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
    assert any("RENAME fails on the second run" in s for s in report.properties["lint"].sentences)
