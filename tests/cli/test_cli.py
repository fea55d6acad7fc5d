"""The CLI on the local database (SQLite and PostgreSQL) and against a server (--url)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.settings import DEFAULT_POLICY

START = "2026-12-02T08:00:00+00:00"


@pytest.fixture
def cli(database_url, monkeypatch):
    """``cli("--as", "dana.dev", "change", "list")`` -> (exit code, stdout, stderr)."""
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(DEFAULT_POLICY))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def as_json(out: str):
    return json.loads(out)


def create_normal(cli, tmp_path: Path, *extra: str) -> str:
    rollback = tmp_path / "rollback.sh"
    rollback.write_text("deploy mes-labels 2.4.0\n")
    code, out, err = cli("--as", "dana.dev", "change", "create", "--title", "Fix label rounding", "--env", "prod",
                         "--category", "application", "--level", "patch", "--item", "mes-labels",
                         "--impact", "line 3", "--implementation", "pipeline", "--verification", "print a label",
                         "--rollback-file", str(rollback), "--start", START, "--downtime", "30m", "--json", *extra)
    assert code == 0, err
    return as_json(out)["ref"]


def without_gate_on_start(monkeypatch, tmp_path) -> None:
    """The default policy with `change start` not gated on prod: for tests of the lifecycle itself, which run
    on the real clock (the gate on start has its own tests: tests/db/test_gate_on_start.py)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEFAULT_POLICY.read_text(encoding="utf-8").replace("{prod: true}", "{prod: false}"))
    monkeypatch.setenv("CHANGEGATE_POLICY", str(policy))


def test_whole_lifecycle_through_the_cli(cli, tmp_path, monkeypatch):
    without_gate_on_start(monkeypatch, tmp_path)
    ref = create_normal(cli, tmp_path)
    code, _, err = cli("--as", "dana.dev", "change", "submit", ref)
    assert code == 1 and f"cannot submit {ref}: no test evidence" in err
    log = tmp_path / "uat.log"
    log.write_text("42 passed\n")
    code, out, err = cli("--as", "dana.dev", "change", "attach", ref, str(log))
    assert code == 0 and "sha256" in out, err
    assert cli("--as", "kim.keyuser", "change", "signoff", ref, "--note", "ok")[0] == 0
    steps = [
        ("dana.dev", "submit", ref), ("chris.change", "assess", ref),
        ("ines.itmgr", "approve", ref, "--role", "it_manager"),
        ("chris.change", "schedule", ref), ("sam.sysadmin", "start", ref), ("sam.sysadmin", "complete", ref),
    ]
    states = []
    for person, *args in steps:
        code, out, err = cli("--as", person, "change", *args, "--json")
        assert code == 0, err
        states.append(as_json(out)["state"])
    assert states == ["submitted", "assessed", "authorized", "scheduled", "implementing", "completed"]
    code, out, _ = cli("--as", "audrey.audit", "change", "history", ref, "--json")
    assert [e["action"] for e in as_json(out)][-3:] == ["change.schedule", "change.start", "change.complete"]
    code, out, _ = cli("audit", "verify", "--json")
    assert code == 0 and as_json(out)["ok"] is True


def test_emergency_and_standard_changes_through_the_cli(cli, tmp_path, monkeypatch):
    without_gate_on_start(monkeypatch, tmp_path)
    rollback = tmp_path / "undo.sh"
    rollback.write_text("systemctl restart scanner-gw\n")
    code, out, err = cli("--as", "sam.sysadmin", "change", "create", "--type", "emergency", "--title", "Scanner down",
                         "--env", "prod", "--category", "software_configuration", "--level", "patch",
                         "--item", "scanner-gateway", "--impact", "line 2 stopped", "--implementation", "restart",
                         "--rollback-file", str(rollback), "--start", START, "--downtime", "5m", "--json")
    assert code == 0, err
    ref = as_json(out)["ref"]
    for action in ("submit", "start", "complete"):
        code, out, err = cli("--as", "sam.sysadmin", "change", action, ref, "--json")
        assert code == 0, err
    shown = as_json(out)
    assert shown["state"] == "completed" and shown["emergency_status"] == "pending"
    code, out, err = cli("--as", "chris.change", "change", "create", "--title", "Restart spooler", "--env", "prod",
                         "--type", "standard", "--template", "restart-label-printer-service", "--start", START,
                         "--json")
    assert code == 0, err
    std = as_json(out)["ref"]
    code, out, _ = cli("--as", "chris.change", "change", "submit", std, "--json")
    assert as_json(out)["state"] == "authorized"


def test_exit_codes_and_messages(cli, tmp_path):
    code, _, err = cli("change", "list")
    assert code == 2 and "say who you are" in err
    code, _, err = cli("--as", "nobody", "change", "list")
    assert code == 2 and "'nobody' is not a person in the policy file" in err
    code, _, err = cli("--as", "dana.dev", "change", "show", "CHG-999")
    assert code == 2 and "no change CHG-999" in err
    code, _, err = cli("--as", "dana.dev", "change", "show", "banana")
    assert code == 2 and "not a change reference" in err
    code, _, err = cli("--as", "dana.dev", "change", "create", "--title", "x", "--env", "prod", "--category", "plumbing",
                       "--level", "patch")
    assert code == 2 and "category" in err
    bad = tmp_path / "rollback.sh"
    bad.write_bytes(b"echo caf\xe9\n")
    code, _, err = cli("--as", "dana.dev", "change", "create", "--title", "x", "--env", "prod", "--category",
                       "application", "--level", "patch", "--rollback-file", str(bad))
    assert code == 2 and "not UTF-8" in err and "line 1" in err
    ref = create_normal(cli, tmp_path)
    code, _, err = cli("--as", "dana.dev", "change", "approve", ref, "--role", "it_manager")
    assert code == 1 and "may not change.approve" in err
    code, out, _ = cli("--as", "dana.dev", "change", "list", "--json")
    assert as_json(out)["total"] == 1  # the refused create wrote nothing


def test_policy_check(cli, tmp_path):
    code, out, _ = cli("policy", "check", str(DEFAULT_POLICY))
    assert code == 0 and "valid" in out
    bad = tmp_path / "policy.yaml"
    bad.write_text(DEFAULT_POLICY.read_text().replace("release_level: major, roles: [cio, plant_director]",
                                                      "release_level: major, roles: [cio, plant_boss]"))
    code, _, err = cli("policy", "check", str(bad))
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "plant_boss" in text)
    assert code == 2
    assert f"{bad}:{line}: approvals.matrix.3.roles.1: unknown role 'plant_boss'" in err.replace("\n", "")
    code, _, err = cli("policy", "check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "not found" in err


def test_audit_verify_names_the_altered_event(cli, tmp_path, database_url):
    ref = create_normal(cli, tmp_path)
    cli("--as", "dana.dev", "change", "edit", ref, "--title", "Second title")
    cli("--as", "dana.dev", "change", "comment", ref, "third event")
    assert cli("audit", "verify")[0] == 0
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"))
    engine.dispose()
    code, out, _ = cli("audit", "verify")
    assert code == 1 and "BROKEN: event 2 was altered" in out


def test_remote_cli_against_a_server(server, tokens, monkeypatch, tmp_path):
    monkeypatch.delenv("CHANGEGATE_USER", raising=False)
    runner = CliRunner()
    base = ["--url", server, "--token", tokens["dana.dev"]]
    result = runner.invoke(app, [*base, "change", "create", "--title", "Remote change", "--env", "uat",
                                 "--category", "data", "--level", "patch", "--json"])
    assert result.exit_code == 0, result.stderr
    ref = json.loads(result.stdout)["ref"]
    result = runner.invoke(app, [*base, "change", "submit", ref])
    assert result.exit_code == 1 and "no impact analysis" in result.stderr
    result = runner.invoke(app, ["--url", server, "--token", "cg_wrong", "change", "list"])
    assert result.exit_code == 2 and "unknown API token" in result.stderr
    log = tmp_path / "shot.png"
    log.write_bytes(b"\x89PNG fake")
    result = runner.invoke(app, [*base, "change", "attach", ref, str(log), "--kind", "screenshot", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["media_type"] == "image/png"


def test_real_subprocess_version_and_demo(tmp_path):
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    env.pop("CHANGEGATE_POLICY", None)
    exe = [sys.executable, "-m", "changegate.cli.main"]
    out = subprocess.run([*exe, "--version"], capture_output=True, text=True, env=env, check=True).stdout
    assert out.startswith("changegate ")
    loaded = subprocess.run([*exe, "demo", "load", "--json"], capture_output=True, text=True, env=env)
    assert loaded.returncode == 0, loaded.stderr
    demo = json.loads(loaded.stdout)
    assert len(demo["changes"]) >= 12 and set(demo["tokens"]) >= {"dana.dev", "ci-pipeline"}
    listing = subprocess.run([*exe, "--as", "audrey.audit", "change", "list", "--json", "--limit", "100"],
                             capture_output=True, text=True, env=env, check=True)
    states = {c["state"] for c in json.loads(listing.stdout)["items"]}
    assert states >= {"draft", "submitted", "assessed", "authorized", "scheduled", "completed", "rejected",
                      "cancelled", "rolled_back"}
    assert any(c["emergency_status"] == "overdue" for c in json.loads(listing.stdout)["items"])
    verify = subprocess.run([*exe, "audit", "verify"], capture_output=True, text=True, env=env)
    assert verify.returncode == 0 and verify.stdout.startswith("OK")


@pytest.mark.parametrize("entry", ["console script", "python -m"])
def test_audit_verify_in_several_processes_from_a_real_cli(tmp_path, entry):
    """The stretches of the chain are checked by spawned processes: they must start cleanly from either
    way of running the CLI, and name the same altered event as a single pass."""
    db = tmp_path / "demo.db"
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": f"sqlite:///{db}"}
    env.pop("CHANGEGATE_POLICY", None)
    script = Path(sys.executable).with_name("changegate")
    exe = [str(script)] if entry == "console script" else [sys.executable, "-m", "changegate.cli.main"]
    subprocess.run([*exe, "demo", "load"], capture_output=True, text=True, env=env, check=True)
    intact = subprocess.run([*exe, "audit", "verify", "--processes", "3", "--json"],
                            capture_output=True, text=True, env=env)
    assert intact.returncode == 0, intact.stderr
    verdict = json.loads(intact.stdout)
    assert verdict["ok"] and verdict["checked"] > 30
    victim = verdict["checked"] * 2 // 3  # in the second or third stretch
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :s"), {"s": victim})
    engine.dispose()
    broken = subprocess.run([*exe, "audit", "verify", "--processes", "3"], capture_output=True, text=True, env=env)
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.strip() == f"BROKEN: event {victim} was altered: its content does not match its hash"


def test_text_that_looks_like_markup_is_printed_as_it_is(cli, tmp_path):
    """Square brackets in a title, a name or an error are text, never Rich markup."""
    code, out, err = cli("--as", "dana.dev", "change", "create", "--title", "[hotfix] label [bold]rounding",
                         "--env", "uat", "--category", "data", "--level", "patch", "--item", "[line-3]")
    assert code == 0, err
    assert "[hotfix] label [bold]rounding" in out and "items: [line-3]" in out
    code, _, err = cli("--as", "dana.dev", "change", "create", "--title", "x", "--env", "[prod]",
                       "--category", "data", "--level", "patch")
    assert code == 2 and "unknown environment '[prod]'" in err
    code, out, _ = cli("--as", "dana.dev", "change", "list")  # a table: the title may fold, the brackets stay
    assert code == 0 and "[hotfix]" in out and "[bold]" in out
