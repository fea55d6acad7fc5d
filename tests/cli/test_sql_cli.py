"""``changegate sql check`` through Typer's CliRunner: verdicts, JSON, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from changegate.cli.sql import sql_app
from changegate.sqlcheck.check import SCRATCH_URL_ENV

SQL = Path(__file__).resolve().parent.parent / "sqlcheck" / "sql"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def lite(tmp_path, monkeypatch) -> Path:
    """The SQLite fixture scripts, copied to the working directory, so paths in messages are short."""
    for f in (SQL / "sqlite").iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(runner, cwd: Path, *args: str):
    return runner.invoke(sql_app, ["check", *args])


def test_a_sound_change_exits_0_and_prints_a_verdict_per_property(runner, lite):
    result = invoke(runner, lite, "--engine", "sqlite", "--schema", "mes_dump.sql", "chg1042_deploy.sql",
                    "--rollback", "chg1042_rollback.sql", "--verify", "chg1042_verify.sql")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "SQL check on sqlite: PASSED" in out
    for prop in ("lint", "idempotent", "reversible", "verify"):
        assert any(line.split()[:2] == [prop, "PASS"] for line in out.splitlines()), out
    assert "chg1042_deploy.sql runs in one transaction" in out
    assert "warning chg1042_rollback.sql:6:1 destructive DROP TABLE line_stops deletes its data" in out


def test_a_failing_property_exits_1_with_the_differences(runner, lite):
    result = invoke(runner, lite, "--engine", "sqlite", "--schema", "mes_dump.sql", "chg1046_deploy_drops_index.sql",
                    "--rollback", "chg1046_rollback_incomplete.sql")
    assert result.exit_code == 1, result.output
    assert "SQL check on sqlite: FAILED" in result.stdout
    assert "after chg1046_rollback_incomplete.sql the database differs from the original:" in result.stdout
    assert "- index ix_orders_created missing" in result.stdout
    assert "NOT RUN no verify script was given" in " ".join(result.stdout.split())


def test_json_output(runner, lite):
    result = invoke(runner, lite, "--engine", "sqlite", "--schema", "mes_dump.sql", "chg1044_deploy_audit_insert.sql",
                    "--rollback", "chg1044_rollback.sql", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert report["properties"]["idempotent"]["sentences"][1] == "the second run added 1 row to table audit_log"
    assert report["scripts"]["deploy"] == "chg1044_deploy_audit_insert.sql"
    assert len(report["scripts_sha256"]["combined"]) == 64
    assert {"deploy_1", "deploy_2", "rollback_1", "fingerprint", "total"} <= set(report["timings"])


def test_the_digest_is_the_files_own_sha256(runner, lite):
    import hashlib

    (lite / "crlf.sql").write_bytes(b"CREATE TABLE IF NOT EXISTS t (a int);\r\n")
    result = invoke(runner, lite, "--engine", "sqlite", "--schema", "mes_dump.sql", "crlf.sql",
                    "--rollback", "chg1043_rollback.sql", "--json")
    digest = json.loads(result.stdout)["scripts_sha256"]["deploy"]
    assert digest == hashlib.sha256((lite / "crlf.sql").read_bytes()).hexdigest()


@pytest.mark.parametrize("setup, args, message", [
    (None, ["missing.sql", "--rollback", "chg1043_rollback.sql"], "the deploy script missing.sql does not exist"),
    ("binary", ["latin1.sql", "--rollback", "chg1043_rollback.sql"],
     "the deploy script latin1.sql is not UTF-8 text (byte 0xe9 on line 2)"),
    ("unparsable", ["broken.sql", "--rollback", "chg1043_rollback.sql"],
     "broken.sql line 2, column 15: statement 2 does not parse near 'WHERE'"),
    ("refused", ["refused.sql", "--rollback", "chg1043_rollback.sql"],
     "refused.sql line 2, column 1: refused: ATTACH DATABASE reaches another database file; instead, change one "
     "database per script"),
])
def test_usage_errors_exit_2_with_a_sentence_naming_file_and_line(runner, lite, setup, args, message):
    if setup == "binary":
        (lite / "latin1.sql").write_bytes(b"SELECT 1;\nSELECT 'Gr\xe9s';\n")
    elif setup == "unparsable":
        (lite / "broken.sql").write_text("SELECT 1;\nSELECT a FROM WHERE a = 1;\n")
    elif setup == "refused":
        (lite / "refused.sql").write_text("SELECT 1;\nATTACH DATABASE '/srv/mes/prod.db' AS prod;\n")
    result = invoke(runner, lite, "--engine", "sqlite", "--schema", "mes_dump.sql", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert message in " ".join(result.stderr.split()), result.stderr


def test_unknown_engine_and_missing_options_exit_2(runner, lite):
    result = invoke(runner, lite, "--engine", "oracle", "--schema", "mes_dump.sql", "chg1042_deploy.sql",
                    "--rollback", "chg1042_rollback.sql")
    assert result.exit_code == 2
    assert "unknown engine 'oracle': use postgresql or sqlite" in result.stderr
    result = invoke(runner, lite, "--engine", "sqlite", "chg1042_deploy.sql")
    assert result.exit_code == 2  # Click's own usage error: --schema and --rollback are required


@pytest.mark.postgresql
def test_postgresql_through_the_scratch_server_url(runner, pg_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv(SCRATCH_URL_ENV, pg_cluster.url())
    pg = SQL / "pg"
    result = runner.invoke(sql_app, ["check", "--engine", "postgresql", "--schema", str(pg / "mes_dump.sql"),
                                     str(pg / "chg1042_deploy.sql"), "--rollback", str(pg / "chg1042_rollback.sql"),
                                     "--verify", str(pg / "chg1042_verify.sql")])
    assert result.exit_code == 0, result.output
    assert "SQL check on postgresql: PASSED" in result.stdout
    assert "an unprivileged role owning the scratch database" in result.stdout


@pytest.mark.postgresql
def test_the_readme_session_prints_what_the_readme_shows(runner, pg_cluster, monkeypatch):
    """The README's SQL check session, on its example files: the rollback forgets the inserted row."""
    monkeypatch.setenv(SCRATCH_URL_ENV, pg_cluster.url())
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    ex = "docs/examples/sql"
    result = runner.invoke(sql_app, ["check", "--engine", "postgresql", "--schema", f"{ex}/schema.sql",
                                     f"{ex}/deploy.sql", "--rollback", f"{ex}/rollback.sql"])
    assert result.exit_code == 1, result.output
    readme = (Path.cwd() / "README.md").read_text()
    start = readme.index("SQL check on postgresql: FAILED")
    shown = readme[start:readme.index("…\nexit 1", start)].splitlines()
    assert len(shown) > 8  # the whole session up to its "…", not an empty slice
    assert result.stdout.splitlines()[:len(shown)] == shown
