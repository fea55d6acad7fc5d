"""Every method of the CLI's Client protocol (cli/client.py), through the local client and through ``--url``
against a live server (issue 13). Each test checks what the command printed, not only its exit code; where
the two clients legitimately differ, the difference is the assertion."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest

START = "2026-12-02T08:00:00+00:00"  # Wednesday 09:00 Berlin, inside the prod window
SQL = Path(__file__).resolve().parent.parent / "sqlcheck" / "sql" / "sqlite"


def ok(result) -> str:
    code, out, err = result
    assert code == 0, out + err
    return out


def create(invoke, tmp_path: Path, title: str = "Fix label rounding", *extra: str) -> str:
    rollback = tmp_path / "rollback.sh"
    rollback.write_text("deploy mes-labels 2.4.0\n")
    out = ok(invoke("dana.dev", "change", "create", "--title", title, "--env", "prod", "--category", "application",
                    "--level", "patch", "--item", "mes-labels", "--impact", "line 3", "--implementation", "pipeline",
                    "--verification", "print a label", "--rollback-file", str(rollback), "--start", START,
                    "--downtime", "30m", "--json", *extra))
    return json.loads(out)["ref"]


def scheduled(invoke, tmp_path: Path, title: str = "Fix label rounding") -> str:
    """A change taken through submit, assess, approve and schedule (create_change … transition)."""
    ref = create(invoke, tmp_path, title, "--version", "2.4.1")
    log = tmp_path / "uat.log"
    log.write_text("42 passed\n")
    rehearsal = tmp_path / "rollback-rehearsal.log"
    rehearsal.write_text("restored 2.4.0 in 4 min\n")
    for person, *args in [("dana.dev", "attach", ref, str(log)), ("kim.keyuser", "signoff", ref),
                          ("sam.sysadmin", "attach", ref, str(rehearsal), "--kind", "rollback_test"),
                          ("dana.dev", "submit", ref), ("chris.change", "assess", ref),
                          ("ines.itmgr", "approve", ref, "--role", "it_manager"), ("chris.change", "schedule", ref)]:
        ok(invoke(person, "change", *args))
    return ref


def test_a_change_from_create_to_scheduled(invoke, tmp_path):
    """create_change, update_change, get_change, list_changes, attach, sign_off, comment, transition, assess,
    decide_approval, history."""
    ref = create(invoke, tmp_path)
    shown = json.loads(ok(invoke("dana.dev", "change", "edit", ref, "--title", "Fix label rounding (v2)", "--json")))
    assert shown["ref"] == ref and shown["title"] == "Fix label rounding (v2)"
    assert json.loads(ok(invoke("audrey.audit", "change", "show", ref, "--json")))["title"] == "Fix label rounding (v2)"
    page = json.loads(ok(invoke("audrey.audit", "change", "list", "--json", "--limit", "5")))
    assert page["total"] == 1 and [c["ref"] for c in page["items"]] == [ref]
    log = tmp_path / "uat.log"
    log.write_text("42 passed\n")
    evidence = json.loads(ok(invoke("dana.dev", "change", "attach", ref, str(log), "--json")))
    assert evidence["filename"] == "uat.log" and evidence["sha256"] == hashlib.sha256(b"42 passed\n").hexdigest()
    assert ok(invoke("dana.dev", "change", "attach", ref, str(log))).count("sha256") == 1
    signed = json.loads(ok(invoke("kim.keyuser", "change", "signoff", ref, "--note", "labels ok", "--json")))
    assert signed["ref"] == ref
    commented = json.loads(ok(invoke("dana.dev", "change", "comment", ref, "ready for review", "--json")))
    assert commented["ref"] == ref
    states = [json.loads(ok(invoke(person, "change", *args, "--json")))["state"] for person, *args in [
        ("dana.dev", "submit", ref), ("chris.change", "assess", ref),
        ("ines.itmgr", "approve", ref, "--role", "it_manager"), ("chris.change", "schedule", ref)]]
    assert states == ["submitted", "assessed", "authorized", "scheduled"]
    events = json.loads(ok(invoke("audrey.audit", "change", "history", ref, "--json")))
    actions = [e["action"] for e in events]
    assert actions[0] == "change.created" and actions[-1] == "change.schedule"
    assert {"change.edited", "change.uat_signed_off", "comment.added"} <= set(actions), actions
    code, _, err = invoke("dana.dev", "change", "approve", ref, "--role", "it_manager")
    assert code == 1 and "may not change.approve" in err  # a refusal reads the same through either client


def test_gate_and_environment_facts(invoke, tmp_path):
    """gate, environments, record_refresh."""
    ref = scheduled(invoke, tmp_path)
    out = ok(invoke("sam.sysadmin", "env", "refreshed", "uat", "--at", "2026-11-20T00:00:00Z"))
    assert out.startswith("uat: data refreshed at 2026-11-20T00:00:00") and "(recorded by sam.sysadmin)" in out
    envs = {e["name"]: e for e in json.loads(ok(invoke("dana.dev", "env", "list", "--json")))}
    assert envs["prod"]["production"] is True and envs["uat"]["data_refreshed_at"].startswith("2026-11-20T00:00:00")
    out = ok(invoke("ci-pipeline", "gate", ref, "--env", "prod", "--at", "2026-12-02T08:00:00Z"))
    assert out.startswith(f"GO {ref} → prod")
    code, out, _ = invoke("ci-pipeline", "gate", ref, "--env", "prod", "--at", "2026-12-04T08:00:00Z", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["allowed"] is False
    assert [r["rule"] for r in verdict["results"] if r["status"] == "fail"] == ["timing", "timing"]


def test_conflicts_between_two_changes_and_accepting_one(invoke, tmp_path):
    """conflicts, accept_conflict."""
    first = scheduled(invoke, tmp_path, "Fix label rounding")
    second = create(invoke, tmp_path, "Label font update")  # same item, same slot
    found = json.loads(ok(invoke("chris.change", "change", "conflicts", second, "--json")))
    assert [(c["other"], c["items"], c["accepted"]) for c in found] == [(first, ["mes-labels"], False)]
    assert f"CONFLICT: {first} on mes-labels" in ok(invoke("dana.dev", "change", "conflicts", second))
    out = ok(invoke("chris.change", "change", "accept-conflict", second, "--with", first, "--reason", "same release"))
    assert out.strip() == f"{second}: conflict with {first} accepted"
    found = json.loads(ok(invoke("chris.change", "change", "conflicts", second, "--json")))
    assert [c["accepted"] for c in found] == [True]
    code, _, err = invoke("chris.change", "change", "accept-conflict", first, "--with", "CHG-999", "--reason", "x")
    assert code == 2 and "no change CHG-999" in err


def test_schedule_freezes_and_calendar(invoke, tmp_path):
    """next_slot, explain, add_freeze, list_freezes, lift_freeze, calendar, calendar_ics."""
    after = ("--after", "2026-12-04T10:00:00+01:00")
    slot = json.loads(ok(invoke("chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "90m", *after,
                                "--json")))
    assert slot["start"] == "2026-12-08T08:00:00Z" and slot["window"]["name"] == "morning"
    code, out, _ = invoke("chris.change", "schedule", "explain", "--env", "prod", "--at", "2026-12-01T13:10:00Z",
                          "--duration", "90m")
    assert code == 1 and "overlaps blackout 'shift-change' (13:30–14:30)" in out
    out = ok(invoke("chris.change", "freeze", "add", "--name", "audit", "--from", "2026-12-08T00:00:00+01:00",
                    "--to", "2026-12-09T00:00:00+01:00", "--reason", "ISO audit", "--env", "prod"))
    assert out.startswith("freeze ") and "'audit'" in out
    freeze_id = out.split()[1]
    slot = json.loads(ok(invoke("chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "90m", *after,
                                "--json")))
    assert slot["start"] == "2026-12-09T08:00:00Z"  # the freeze pushed it a day
    window = ("--from", "2026-12-07T00:00:00Z", "--to", "2026-12-10T00:00:00Z")
    freezes = json.loads(ok(invoke("audrey.audit", "freeze", "list", *window, "--json")))
    assert [(str(f["id"]), f["name"], f["environments"]) for f in freezes] == [(freeze_id, "audit", ["prod"])]
    cal = json.loads(ok(invoke("audrey.audit", "calendar", *window, "--env", "prod", "--json")))
    assert [e["start"] for e in cal["entries"] if e["name"] == "audit"] == ["2026-12-07T23:00:00Z"], cal["entries"]
    ics = tmp_path / "changes.ics"
    out = ok(invoke("audrey.audit", "calendar", *window, "--env", "prod", "--ics", str(ics)))
    assert out.startswith(f"wrote {ics} (")
    events = list(icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT"))
    assert any(str(e["SUMMARY"]) == "Blackout: audit [prod]" for e in events)
    out = ok(invoke("chris.change", "freeze", "lift", freeze_id, "--reason", "audit moved"))
    assert out.startswith(f"freeze {freeze_id} lifted at ")
    slot = json.loads(ok(invoke("chris.change", "schedule", "next-slot", "--env", "prod", "--duration", "90m", *after,
                                "--json")))
    assert slot["start"] == "2026-12-08T08:00:00Z"  # lifted: the day is free again


def test_a_bare_date_means_plant_midnight_locally_and_is_refused_remotely(invoke):
    code, out, err = invoke("chris.change", "freeze", "add", "--name", "audit", "--from", "2026-12-08",
                            "--to", "2026-12-09", "--reason", "ISO audit", "--env", "prod", "--json")
    if invoke.remote:
        assert code == 2 and "--from 2026-12-08: give the time and its offset" in err
        assert "through --url a bare date is refused" in err
        return
    assert code == 0, err
    freeze = json.loads(out)
    assert (freeze["start"], freeze["end"]) == ("2026-12-07T23:00:00Z", "2026-12-08T23:00:00Z")  # Berlin midnight


def test_tokens(invoke):
    """create_token, list_tokens, revoke_token."""
    out = ok(invoke("chris.change", "token", "create", "--person", "ci-pipeline", "--name", "gitlab deploy"))
    token_id, secret = out.split()[1], out.splitlines()[0].split()[-1]
    assert out.startswith(f"token {token_id} for ci-pipeline: cg_") and secret.startswith("cg_")
    listed = json.loads(ok(invoke("chris.change", "token", "list", "--person", "ci-pipeline", "--json")))
    mine = [t for t in listed if t["name"] == "gitlab deploy"]
    assert [str(t["id"]) for t in mine] == [token_id] and mine[0]["revoked_at"] is None
    assert secret.startswith(mine[0]["prefix"]) and "secret" not in mine[0]
    out = ok(invoke("chris.change", "token", "revoke", token_id))
    assert out.startswith(f"token {token_id} revoked at ")
    listed = json.loads(ok(invoke("chris.change", "token", "list", "--person", "ci-pipeline", "--json")))
    assert [t["revoked_at"] is not None for t in listed if str(t["id"]) == token_id] == [True]
    code, _, err = invoke("dana.dev", "token", "create", "--person", "kim.keyuser", "--name", "not mine")
    assert code == 1 and "may not token.manage" in err


def test_web_passwords(invoke):
    """set_password, password_link (``user set-password``, prompted or ``--link``)."""
    from changegate.cli.main import app

    def prompted(person: str, target: str, password: str):
        who = ["--url", invoke.server, "--token", invoke.tokens[person]] if invoke.remote else ["--as", person]
        result = invoke.runner.invoke(app, [*who, "user", "set-password", target], input=f"{password}\n{password}\n",
                                      catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    out = ok(prompted("chris.change", "ines.itmgr", "a long enough password"))
    assert "password set for ines.itmgr; their other web sessions have ended" in out
    out = ok(prompted("omar.ops", "omar.ops", "omar's very own password"))  # anybody may set their own
    assert "password set for omar.ops" in out
    code, _, err = prompted("omar.ops", "ines.itmgr", "a long enough password")
    assert code == 1 and "may not token.manage" in err
    code, _, err = prompted("chris.change", "ines.itmgr", "short")
    assert code == 2 and "the password is shorter than 12 characters" in err
    out = ok(invoke("chris.change", "user", "set-password", "dana.dev", "--link", "--base-url", "https://cg.plant",
                    "--valid-minutes", "30"))
    first, link = out.splitlines()
    assert first == "one-time link for dana.dev, valid for 30 minutes:"
    assert link.startswith("https://cg.plant/set-password/") and len(link.rsplit("/", 1)[1]) >= 40
    code, _, err = invoke("dana.dev", "user", "set-password", "kim.keyuser", "--link")
    assert code == 1 and "may not token.manage" in err
    code, _, err = invoke("chris.change", "user", "set-password", "ci-pipeline", "--link")
    assert code == 2 and "ci-pipeline" in err  # a service account signs in with tokens, never a password


def test_audit_head_and_verify(invoke, tmp_path, run_worker):
    """audit_head, verify_audit; --processes is the local database's only. Through --url the verification is
    a background job carried out by a worker (its progress on stderr), with the local command's output."""
    create(invoke, tmp_path)
    head = json.loads(ok(invoke(None, "audit", "head", "--json")))
    anchor = ok(invoke(None, "audit", "head")).strip()
    assert anchor == head["anchor"] and anchor.startswith(f"{head['seq']}:")
    verdict = json.loads(ok(invoke(None, "audit", "verify", "--anchor", anchor, "--json")))
    assert verdict["ok"] is True and verdict["checked"] >= head["seq"]
    code, out, err = invoke(None, "audit", "verify", "--anchor", anchor)
    assert code == 0 and out.startswith("OK: ") and "OK: the chain holds 1 anchor(s)" in out
    assert ("queued: waiting for a worker" in err) is invoke.remote, err
    code, out, err = invoke(None, "audit", "verify", "--anchor", f"{head['seq']}:{'0' * 64}")
    assert code == 1 and out.startswith("BROKEN: "), out + err  # a verdict, not an error: the same exit code
    code, out, err = invoke(None, "audit", "verify", "--processes", "1")
    if invoke.remote:
        assert code == 2 and "--processes applies to the local database only" in err
    else:
        assert code == 0 and out.startswith("OK: ")
    code, _, err = invoke(None, "audit", "verify", "--anchor", "banana")
    assert code == 2 and "banana" in err  # refused before it leaves this machine


def test_sql_check_attaches_its_report(invoke, tmp_path, run_worker):
    """sql_check. Through --url the check is a background job carried out by a worker (its progress on
    stderr); the output and exit codes are the local command's, a failed job's error included."""
    ref = create(invoke, tmp_path)
    code, out, err = invoke("dana.dev", "change", "check-sql", ref, "--engine", "sqlite", "--schema",
                            str(SQL / "mes_dump.sql"), "--deploy", str(SQL / "chg1042_deploy.sql"), "--rollback",
                            str(SQL / "chg1042_rollback.sql"), "--verify", str(SQL / "chg1042_verify.sql"))
    assert code == 0, out + err
    assert ("queued: waiting for a worker" in err) is invoke.remote, err
    assert f"passed; attached to {ref} as evidence" in out
    assert any(line.split()[:2] == ["PASS", "idempotent:"] for line in out.splitlines()), out
    shown = json.loads(ok(invoke("dana.dev", "change", "show", ref, "--json")))
    assert any(e["kind"] == "sql_check" for e in shown["evidence"]), shown["evidence"]
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE (;\n")
    code, out, err = invoke("dana.dev", "change", "check-sql", ref, "--engine", "sqlite", "--schema",
                            str(SQL / "mes_dump.sql"), "--deploy", str(broken), "--rollback",
                            str(SQL / "chg1042_rollback.sql"))
    assert code == 2 and "broken.sql" in err, out + err  # the job's error, as the local command's


def test_every_client_method_is_named_by_a_test_here():
    """A method added to the Client protocol gets a test in this matrix: each test's docstring names the
    methods it drives, and this list must cover the protocol."""
    import re
    import sys

    from changegate.cli import client

    protocol = set(re.findall(r"def (\w+)\(", Path(client.__file__).read_text()))
    module = sys.modules[__name__]
    named = set()
    for name, fn in vars(module).items():
        if name.startswith("test_") and fn.__doc__:
            named |= set(re.findall(r"\w+", fn.__doc__.split("\n\n")[0]))
    assert sorted(protocol - named) == []


CMDB_ITEMS = """name,type,criticality,owner,environment,description,attr.vendor
db-mes-prod,database,critical,dba,prod,MES production database,postgres
mes-core,application,high,mes-team,prod,,
mes-screen-packing,mes_screen,medium,mes-team,prod,packing screen,
line-3,production_line,critical,plant-ops,prod,,
mes-labels,application,medium,mes-team,prod,label printing,
"""
CMDB_RELATIONS = """source,target,type
mes-core,db-mes-prod,depends_on
mes-screen-packing,mes-core,depends_on
mes-screen-packing,line-3,part_of
line-3,mes-labels,depends_on
"""


def test_cmdb_import_export_and_impact(invoke, tmp_path):
    """cmdb_import, cmdb_export, cmdb_impact, change_impact, curate_impact."""
    items, relations = tmp_path / "items.csv", tmp_path / "relations.csv"
    items.write_text(CMDB_ITEMS)
    relations.write_text(CMDB_RELATIONS)
    out = ok(invoke("chris.change", "cmdb", "import", str(items), str(relations)))
    assert out.strip() == ("imported: 5 item(s) created, 0 updated, 0 unchanged; 4 relation(s) created, "
                           "0 unchanged")
    out = ok(invoke("chris.change", "cmdb", "import", str(items), str(relations)))
    assert out.strip() == "nothing to change: 5 item(s) and 4 relation(s) are already as the files say"
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target,type\nmes-core,ghost,depends_on\n")
    code, out, err = invoke("chris.change", "cmdb", "import", str(bad))
    assert code == 2 and "nothing was imported" in err and "bad.csv:2: target: relation to a missing item 'ghost'" in err
    code, _, err = invoke("dana.dev", "cmdb", "import", str(items))
    assert code == 1 and "may not cmdb.manage" in err
    out = ok(invoke("dana.dev", "cmdb", "impact", "db-mes-prod"))
    assert out.splitlines()[0] == "impact of db-mes-prod: 3 item(s), highest criticality critical"
    assert "  3  line-3 (production_line, critical)  line-3 ← mes-screen-packing ← mes-core ← db-mes-prod" in out
    shown = json.loads(ok(invoke("dana.dev", "cmdb", "impact", "db-mes-prod", "--depth", "1", "--json")))
    assert [i["name"] for i in shown["impacted"]] == ["mes-core"] and shown["total"] == 1
    code, _, err = invoke("dana.dev", "cmdb", "impact", "db-mes-prd")
    assert code == 2 and "did you mean db-mes-prod" in err
    ref = create(invoke, tmp_path)  # its item: mes-labels
    out = ok(invoke("dana.dev", "change", "impact", ref))
    assert out.splitlines()[0] == f"impact of {ref}: 1 item(s), highest criticality critical"
    assert "line-3 ← mes-labels" in out
    out = ok(invoke("dana.dev", "change", "curate", ref, "line-3", "--exclude", "--reason", "line 3 is down that week"))
    assert out.splitlines()[0] == f"{ref}: line-3 excluded from the impact"
    assert "  excluded line-3 by dana.dev: line 3 is down that week" in out
    shown = json.loads(ok(invoke("cab.carla", "change", "impact", ref, "--json")))
    assert (shown["total"], shown["curated_total"]) == (1, 0) and shown["impacted"][0]["curation"] == "excluded"
    code, _, err = invoke("dana.dev", "change", "curate", ref, "db-mes-prod", "--confirm", "--reason", "x")
    assert code == 2 and "'db-mes-prod' is not in the computed impact" in err
    exported = tmp_path / "out.json"
    ok(invoke("audrey.audit", "cmdb", "export", str(exported)))
    document = json.loads(exported.read_text())
    assert len(document["items"]) == 5 and len(document["relations"]) == 4
    out = ok(invoke("chris.change", "cmdb", "import", str(exported)))
    assert out.startswith("nothing to change")
    csv_items, csv_relations = tmp_path / "e-items.csv", tmp_path / "e-relations.csv"
    ok(invoke("audrey.audit", "cmdb", "export", str(csv_items), "--relations", str(csv_relations)))
    assert csv_items.read_text().splitlines()[0] == "name,type,criticality,owner,environment,description,attr.vendor"
    assert ok(invoke("chris.change", "cmdb", "import", str(csv_items), str(csv_relations))).startswith("nothing")


def test_cmdb_items_and_relations(invoke):
    """cmdb_create_item, cmdb_update_item, cmdb_get_item, cmdb_search, cmdb_relate, cmdb_relations,
    cmdb_unrelate, cmdb_delete_item."""
    out = ok(invoke("chris.change", "cmdb", "add", "host-7", "--type", "host", "--criticality", "high",
                    "--owner", "infra", "--attr", "rack=B2"))
    assert out.strip() == "created host-7 (host, high, infra)"
    ok(invoke("chris.change", "cmdb", "add", "vm/mes 1", "--type", "virtual_machine"))  # any character in a name
    assert ok(invoke("chris.change", "cmdb", "relate", "vm/mes 1", "runs_on", "host-7")).strip() == \
        "related vm/mes 1 runs_on host-7"
    out = ok(invoke("chris.change", "cmdb", "edit", "vm/mes 1", "--owner", "mes-team", "--criticality", "critical"))
    assert out.strip() == "edited vm/mes 1 (virtual_machine, critical, mes-team)"
    shown = json.loads(ok(invoke("dana.dev", "cmdb", "show", "host-7", "--json")))
    assert shown["attributes"] == {"rack": "B2"}
    assert [(r["source"], r["type"], r["target"]) for r in shown["relations"]] == [("vm/mes 1", "runs_on", "host-7")]
    found = json.loads(ok(invoke("dana.dev", "cmdb", "search", "mes", "--json")))
    assert [i["name"] for i in found["items"]] == ["vm/mes 1"]
    listed = ok(invoke("dana.dev", "cmdb", "relations", "--item", "host-7"))
    assert listed.splitlines() == ["vm/mes 1 runs_on host-7", "1 relation(s)"]
    code, _, err = invoke("chris.change", "cmdb", "relate", "vm/mes 1", "feeds", "host-7")
    assert code == 2 and "unknown relation type 'feeds'" in err
    assert ok(invoke("chris.change", "cmdb", "unrelate", "vm/mes 1", "runs_on", "host-7")).strip() == \
        "removed vm/mes 1 runs_on host-7"
    assert ok(invoke("chris.change", "cmdb", "delete", "vm/mes 1")).strip() == "deleted vm/mes 1"
    code, _, err = invoke("dana.dev", "cmdb", "show", "vm/mes 1")
    assert code == 2 and "no configuration item 'vm/mes 1'" in err


def test_conflicts_through_dependencies(invoke, tmp_path):
    """conflicts through the CMDB: one change touches an item the other's items depend on."""
    items, relations = tmp_path / "items.csv", tmp_path / "relations.csv"
    items.write_text(CMDB_ITEMS)
    relations.write_text(CMDB_RELATIONS)
    ok(invoke("chris.change", "cmdb", "import", str(items), str(relations)))
    first = scheduled(invoke, tmp_path)  # mes-labels, in the slot at START
    rollback = tmp_path / "rollback.sh"
    out = ok(invoke("dana.dev", "change", "create", "--title", "Line 3 conveyor speed", "--env", "prod",
                    "--category", "application", "--level", "patch", "--item", "line-3", "--implementation", "x",
                    "--rollback-file", str(rollback), "--start", START, "--downtime", "30m", "--json"))
    second = json.loads(out)["ref"]
    found = json.loads(ok(invoke("chris.change", "change", "conflicts", second, "--json")))
    assert [(c["other"], c["items"], c["through"]) for c in found] == [(first, ["line-3"], ["line-3 ← mes-labels"])]
    assert f"CONFLICT: {first} on line-3 through line-3 ← mes-labels from" in ok(
        invoke("dana.dev", "change", "conflicts", second))
    # The gate's conflicts rule reads the same conflicts (its own one-statement read, then the CMDB).
    code, out, _ = invoke("ci-pipeline", "gate", second, "--env", "prod", "--at", START, "--json")
    rule = next(r for r in json.loads(out)["results"] if r["rule"] == "conflicts")
    assert code == 1 and rule["status"] == "fail" and "through line-3 ← mes-labels" in rule["message"]


# --- deployment runs (docs/runner.md) -----------------------------------------------------------------------

RUN_PLAN = """steps:
  - {name: install, shell: "echo installed"}
%s
checks:
  smoke: [{name: health, shell: "%s"}]
timing: {check_after: 0s, on_failure: pause}
"""
MANUAL_STEP = """  - name: stop the line
    manual: Stop the label printers on line 3.
    role: system_administrator
    timeout: 1s
    on_timeout: pause"""


def dev_change(invoke, tmp_path: Path, title: str) -> str:
    """A change to dev (no approval, no window) taken to scheduled."""
    rollback = tmp_path / "rollback.sh"
    rollback.write_text("echo rolled back\n")
    log = tmp_path / "uat.log"
    log.write_text("42 passed\n")
    ref = json.loads(ok(invoke("dana.dev", "change", "create", "--title", title, "--env", "dev", "--category",
                               "application", "--level", "patch", "--item", "mes-labels", "--impact", "none",
                               "--implementation", "deploy", "--verification", "smoke", "--rollback-file",
                               str(rollback), "--start", START, "--downtime", "5m", "--json")))["ref"]
    for person, *args in [("dana.dev", "attach", ref, str(log)), ("dana.dev", "submit", ref),
                          ("chris.change", "assess", ref), ("chris.change", "schedule", ref)]:
        ok(invoke(person, "change", *args))
    return ref


@pytest.fixture
def run_worker(invoke):
    """Through --url the server queues runs: a real ``changegate worker`` process carries them out."""
    if not invoke.remote:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "worker"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    yield proc
    proc.kill()
    proc.wait()


def test_a_deployment_run_from_its_plan_to_its_log(invoke, tmp_path, run_worker):
    """attach_plan, get_plan, deploy, show_run, run_log, follow_log."""
    ref = dev_change(invoke, tmp_path, "Ship 2.0")
    plan = tmp_path / "plan.yaml"
    plan.write_text(RUN_PLAN % ("", "true"))
    assert ok(invoke("rene.release", "plan", "attach", ref, str(plan))).startswith(f"{ref}: plan plan.yaml attached")
    assert ok(invoke("audrey.audit", "plan", "show", ref)) == plan.read_text()
    dry = json.loads(ok(invoke("rene.release", "deploy", ref, "--env", "dev", "--dry-run", "--json")))
    assert dry["lines"][0] == "step 1. install: sh -c 'echo installed'"
    out = ok(invoke("rene.release", "deploy", ref, "--env", "dev"))
    assert "steps.0 install" in out and f"run 1 of {ref} on dev: committed — every check passed" in out
    shown = json.loads(ok(invoke("audrey.audit", "run", "show", ref, "--json")))
    assert shown["state"] == "committed" and [s["key"] for s in shown["steps"]] == ["steps.0", "checks.smoke.health"]
    log = ok(invoke("audrey.audit", "run", "log", ref))
    assert log.splitlines()[0] == f"run 1 of {ref} on dev: committed" and "    installed" in log
    followed = ok(invoke("audrey.audit", "run", "log", ref, "--follow")).splitlines()
    assert followed[-1] == "run 1 committed: every check passed" and len(followed) == 3
    assert json.loads(ok(invoke("audrey.audit", "change", "show", ref, "--json")))["state"] == "completed"


def test_people_decide_paused_runs(invoke, tmp_path, run_worker):
    """confirm_step, commit_run, rollback (and deploy, follow_log to wait for a worker)."""
    # A manual step nobody confirms within 1 s pauses the run (on_timeout: pause); confirmed late, it carries on.
    first = dev_change(invoke, tmp_path, "Ship 2.1")
    plan = tmp_path / "plan.yaml"
    plan.write_text(RUN_PLAN % (MANUAL_STEP, "false"))
    code, out, err = invoke("rene.release", "deploy", first, "--env", "dev", "--plan", str(plan))
    assert code == 1 and f"on dev: paused — manual step 'stop the line' not confirmed within 1 s: paused" in out, \
        out + err
    code, _, err = invoke("rene.release", "run", "commit", first, "--reason", "looks fine")
    assert code == 1 and "its deployment stopped at the manual step 'stop the line'" in err
    code, _, err = invoke("rene.release", "run", "confirm", first, "stop the line")
    assert code == 1 and "only a system_administrator may confirm 'stop the line'" in err
    ok(invoke("sam.sysadmin", "run", "confirm", first, "stop the line", "--note", "stopped"))
    if invoke.remote:  # the worker carries the resumed run on; locally, run confirm drove it itself
        ok(invoke("audrey.audit", "run", "log", first, "--follow"))
    shown = json.loads(ok(invoke("audrey.audit", "run", "show", first, "--json")))
    assert shown["state"] == "paused" and shown["outcome"].startswith("smoke check 'health'"), shown
    # The smoke check failed and the plan says pause: a person decides the deployment stands.
    code, _, err = invoke("kim.keyuser", "run", "commit", first, "--reason", "known false alarm")
    assert code == 1 and "may not change.implement" in err
    committed = json.loads(ok(invoke("rene.release", "run", "commit", first, "--reason", "known false alarm", "--json")))
    assert committed["state"] == "committed" and committed["outcome"] == \
        "committed on rene.release's decision: known false alarm"
    assert json.loads(ok(invoke("audrey.audit", "change", "show", first, "--json")))["state"] == "completed"
    # Another paused run: a person rolls it back.
    second = dev_change(invoke, tmp_path, "Ship 2.2")
    plan.write_text(RUN_PLAN % ("", "false"))
    assert invoke("rene.release", "deploy", second, "--env", "dev", "--plan", str(plan))[0] == 1
    out = ok(invoke("rene.release", "rollback", second, "--reason", "health is red"))
    if invoke.remote:
        assert "the rollback is carried out by a worker" in out
        ok(invoke("audrey.audit", "run", "log", second, "--follow"))
    else:
        assert f"on dev: rolled_back — rolled back on rene.release's decision: health is red" in out
    assert json.loads(ok(invoke("audrey.audit", "change", "show", second, "--json")))["state"] == "rolled_back"
    actions = [e["action"] for e in json.loads(ok(invoke("audrey.audit", "change", "history", first, "--json")))]
    assert [a for a in actions if a in {"run.paused", "run.step_confirmed", "run.deploying", "run.commit_requested",
                                        "run.committed", "change.complete"}] == [
        "run.deploying", "run.paused", "run.step_confirmed", "run.deploying", "run.paused", "run.commit_requested",
        "run.committed", "change.complete"]
