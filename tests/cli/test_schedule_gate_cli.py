"""The gate and the schedule from the command line: the exit codes pipelines rely on."""

from __future__ import annotations

import json
from pathlib import Path

import icalendar
import pytest
import yaml
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.settings import DEFAULT_POLICY

from test_cli import cli, create_normal  # noqa: F401  (fixture and helper shared with the CLI tests)

ROOT = Path(__file__).resolve().parents[2]


def prepared(cli, tmp_path) -> str:
    ref = create_normal(cli, tmp_path, "--version", "2.4.1")
    log = tmp_path / "uat.log"
    log.write_text("42 passed\n")
    rehearsal = tmp_path / "rollback-rehearsal.log"
    rehearsal.write_text("restored 2.4.0 in 4 min\n")
    for person, *args in [
        ("dana.dev", "attach", ref, str(log)), ("kim.keyuser", "signoff", ref),
        ("sam.sysadmin", "attach", ref, str(rehearsal), "--kind", "rollback_test"),
        ("dana.dev", "submit", ref), ("chris.change", "assess", ref),
        ("ines.itmgr", "approve", ref, "--role", "it_manager"), ("chris.change", "schedule", ref),
    ]:
        code, _, err = cli("--as", person, "change", *args)
        assert code == 0, err
    code, _, err = cli("--as", "sam.sysadmin", "env", "refreshed", "uat", "--at", "2026-11-20T00:00:00Z")
    assert code == 0, err
    return ref


def test_gate_exit_codes(cli, tmp_path):
    ref = prepared(cli, tmp_path)
    at = "2026-12-02T08:00:00Z"  # the planned start: Wednesday 09:00 Berlin
    code, out, err = cli("--as", "ci-pipeline", "gate", ref, "--env", "prod", "--at", at)
    assert code == 0, out + err
    assert out.startswith(f"GO {ref} → prod")
    code, out, _ = cli("--as", "ci-pipeline", "gate", ref, "--env", "prod", "--at", "2026-12-04T08:00:00Z", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["allowed"] is False
    assert [r["rule"] for r in verdict["results"] if r["status"] == "fail"] == ["timing", "timing"]  # window, slot
    code, out, _ = cli("--as", "dana.dev", "gate", ref, "--env", "prod", "--at", at)
    assert code == 1 and "BLOCKED" in out and "isolation" in out
    code, _, err = cli("--as", "ci-pipeline", "gate", ref, "--env", "staging")
    assert code == 2 and "unknown environment 'staging'" in err
    code, _, err = cli("--as", "ci-pipeline", "gate", "CHG-404", "--env", "prod")
    assert code == 2 and "no change CHG-404" in err


def test_schedule_commands(cli, tmp_path):
    code, out, _ = cli("--as", "chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "90m",
                       "--after", "2026-12-04T10:00:00+01:00", "--json")
    slot = json.loads(out)
    assert code == 0 and slot["start"] == "2026-12-08T08:00:00Z" and slot["window"]["name"] == "morning"
    code, out, _ = cli("--as", "chris.change", "schedule", "explain", "--env", "prod", "--at", "2026-12-01T13:10:00Z",
                       "--duration", "90m")
    assert code == 1 and "overlaps blackout 'shift-change' (13:30–14:30)" in out
    code, out, _ = cli("--as", "chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "5h")
    assert code == 1 and "no window is long enough" in out
    code, out, err = cli("--as", "chris.change", "freeze", "add", "--name", "audit", "--from", "2026-12-08",
                         "--to", "2026-12-09", "--reason", "ISO audit", "--env", "prod")
    assert code == 0, err
    code, out, _ = cli("--as", "chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "90m",
                       "--after", "2026-12-04T10:00:00+01:00", "--json")
    assert json.loads(out)["start"] == "2026-12-09T08:00:00Z"  # the freeze pushed it a day
    ics = tmp_path / "changes.ics"
    code, out, err = cli("--as", "audrey.audit", "calendar", "--from", "2026-12-07", "--to", "2026-12-10",
                         "--env", "prod", "--ics", str(ics))
    assert code == 0, err
    events = list(icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT"))
    assert any(str(e["SUMMARY"]) == "Blackout: audit [prod]" for e in events)


def test_bad_schedule_policy_is_refused_with_line_and_field(cli, tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text(DEFAULT_POLICY.read_text().replace('start: "09:00", end: "11:00"', 'start: "25:00", end: "11:00"'))
    code, _, err = cli("policy", "check", str(bad))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "25:00" in t)
    assert code == 2 and f"{bad}:{line}: schedule.windows.0.start" in err.replace("\n", "")


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_call_the_gate_with_real_options(name):
    text = (ROOT / "docs" / "ci-examples" / name).read_text()
    yaml.safe_load(text)  # valid YAML
    gate_lines = [line for line in text.splitlines() if "changegate gate" in line and not line.strip().startswith("#")]
    assert gate_lines, "the example must call the gate"
    result = CliRunner().invoke(app, ["gate", "--help"])
    for option in ("--env", "--json", "--at"):
        assert option in result.stdout
    assert all("--env prod" in line for line in gate_lines)


def test_change_start_is_refused_by_a_blocked_gate_printing_every_failing_rule(cli, tmp_path):
    ref = prepared(cli, tmp_path)  # scheduled for 2026-12-02 09:00 Berlin: the CLI's "now" is another time
    code, out, err = cli("--as", "sam.sysadmin", "change", "start", ref)
    assert code == 1, out + err
    assert f"cannot start {ref}: the Final Checkout gate for prod is BLOCKED (failing: timing" in err
    assert f"'s slot 2026-12-02 07:45–08:30 UTC (planned start 08:00, 15m early at most) (timing)" in err
    code, out, err = cli("--as", "sam.sysadmin", "change", "start", ref, "--override-reason", "urgent")
    assert code == 1 and "only an emergency change may override the gate (override_not_allowed)" in err
    code, _, err = cli("--as", "sam.sysadmin", "change", "complete", ref, "--override-reason", "urgent")
    assert code == 2 and "--override-reason also to start" in err


def test_a_bare_date_is_plant_midnight_in_the_first_environments_zone(cli, tmp_path, monkeypatch):
    """The rule is the service's (``schedule.plant_midnight``); the CLI only spots a bare date."""
    from datetime import date

    from changegate.services.policy import load_policy
    from changegate.services.schedule import plant_midnight

    policy = tmp_path / "policy.yaml"
    policy.write_text(DEFAULT_POLICY.read_text().replace("dev: {enforce: false}",
                                                         "dev: {enforce: false, timezone: America/New_York}"))
    loaded = load_policy(policy)
    day = date(2026, 12, 8)
    assert plant_midnight(loaded, day, ["dev", "prod"]).isoformat() == "2026-12-08T00:00:00-05:00"
    assert plant_midnight(loaded, day, ["prod", "dev"]).isoformat() == "2026-12-08T00:00:00+01:00"
    assert plant_midnight(loaded, day).isoformat() == "2026-12-08T00:00:00+01:00"  # the policy's zone
    monkeypatch.setenv("CHANGEGATE_POLICY", str(policy))
    for envs, start in ((["dev", "prod"], "2026-12-08T05:00:00Z"), (["prod", "dev"], "2026-12-07T23:00:00Z")):
        code, out, err = cli("--as", "chris.change", "freeze", "add", "--name", "audit", "--from", "2026-12-08",
                             "--to", "2026-12-09", "--reason", "ISO audit", *(a for e in envs for a in ("--env", e)),
                             "--json")
        assert code == 0, err
        assert json.loads(out)["start"] == start
