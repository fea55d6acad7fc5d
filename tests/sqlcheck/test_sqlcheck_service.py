"""The SQL check's service: the scripts are built from the request as it came; sqlglot's logger is set
once when the check is imported, never by the core."""

from __future__ import annotations

import logging

from changegate.core.sql.lint import analyse
from changegate.schemas.sqlcheck import SqlCheckIn
from changegate.services.sqlcheck import run_check, scripts_of


def test_scripts_are_built_from_a_request_or_from_name_and_text_pairs():
    request = SqlCheckIn(engine="sqlite", schema_sql={"name": "s.sql", "text": "CREATE TABLE t (a int);"},
                         deploy={"name": "d.sql", "text": "SELECT 1;"}, rollback={"name": "r.sql", "text": ""})
    scripts = scripts_of(request.schema_sql, request.deploy, request.rollback, request.verify)
    assert {role: (s.name, s.text) for role, s in scripts.items()} == {
        "schema": ("s.sql", "CREATE TABLE t (a int);"), "deploy": ("d.sql", "SELECT 1;"), "rollback": ("r.sql", "")}
    assert set(scripts_of(("s", "x"), ("d", "y"), ("r", "z"), ("v", "w"))) == {"schema", "deploy", "rollback",
                                                                                "verify"}


def test_run_check_takes_the_scripts_by_role():
    report = run_check("sqlite", schema=("s.sql", "CREATE TABLE t (a int);"), deploy=("d.sql", "SELECT 1;"),
                       rollback=("r.sql", "SELECT 2;"))
    assert report["passed"] and report["scripts"] == {"schema": "s.sql", "deploy": "d.sql", "rollback": "r.sql"}


def test_importing_the_check_quiets_sqlglot_once(caplog):
    import changegate.sqlcheck.check  # noqa: F401 - the import sets the level

    assert logging.getLogger("sqlglot").getEffectiveLevel() >= logging.ERROR


def test_the_core_does_not_touch_sqlglots_logger(caplog):
    """The core keeps no global state: what sqlglot logs is the application's choice."""
    logger = logging.getLogger("sqlglot")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with caplog.at_level(logging.WARNING, logger="sqlglot"):
            analyse("ALTER TYPE shift ADD VALUE IF NOT EXISTS 'D';", "postgresql", "deploy", "d.sql")
        assert logger.level == logging.WARNING
        assert any("Command" in r.getMessage() for r in caplog.records)  # the core did not silence it
    finally:
        logger.setLevel(before)
