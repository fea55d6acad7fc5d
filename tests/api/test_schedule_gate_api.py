"""Scheduling, conflicts, freezes, the calendar and the deployment gate, over real HTTP on both databases.

The test clock stands on Tuesday 2026-12-01 08:00 UTC = 09:00 Europe/Berlin, inside the default
morning window (09:00–11:00 Tue–Thu; Friday, shift changes ±30 min and quarter ends blacked out).
"""

from __future__ import annotations

import icalendar
import pytest

from test_changes_api import attach_log, full_change, move, ok

NOW = "2026-12-01T08:00:00Z"  # Tuesday 09:00 Berlin
FRIDAY = "2026-12-04T08:00:00Z"


def authorized_change(as_, **overrides) -> str:
    dana, kim, chris, ines = as_("dana.dev"), as_("kim.keyuser"), as_("chris.change"), as_("ines.itmgr")
    ref = ok(dana.post("/changes", json=full_change(**overrides)), 201)["ref"]
    ok(attach_log(dana, ref), 201)
    ok(kim.post(f"/changes/{ref}/uat-signoff", json={}))
    ok(move(dana, ref, "submit"))
    ok(chris.post(f"/changes/{ref}/assessment", json={}))
    ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    return ref


def test_scheduling_checks_windows_and_blackouts(as_):
    chris = as_("chris.change")
    ref = authorized_change(as_, planned_start=FRIDAY)
    r = move(chris, ref, "schedule")
    assert r.status_code == 409
    assert [x["code"] for x in r.json()["reasons"]] == ["blackout", "outside_window"] or \
        "blackout" in {x["code"] for x in r.json()["reasons"]}
    assert "friday" in r.json()["message"]
    # 14:00 Berlin is the shift change: the afternoon window really starts at 14:30.
    r = move(chris, ref, "schedule", planned_start="2026-12-01T13:00:00Z")
    assert r.status_code == 409 and "shift-change" in r.json()["message"]
    scheduled = ok(move(chris, ref, "schedule", planned_start="2026-12-01T13:30:00Z"))
    assert scheduled["state"] == "scheduled" and scheduled["planned_start"] == "2026-12-01T13:30:00Z"


def test_next_slot_and_explain(as_):
    chris = as_("chris.change")
    slot = ok(chris.get("/schedule/next-slot", params={"environment": "prod", "duration": "90m",
                                                         "after": "2026-12-03T09:00:00Z"}))
    # Thursday 10:00 Berlin leaves 60 min of the morning; 14:30-16:00 fits 90 min exactly.
    assert slot["allowed"] and slot["start"] == "2026-12-03T13:30:00Z" and slot["window"]["name"] == "afternoon"
    too_long = ok(chris.get("/schedule/next-slot", params={"environment": "prod", "duration": "3h"}))
    assert not too_long["allowed"] and "3h" in too_long["reasons"][0]["message"]
    why = ok(chris.get("/schedule/explain", params={"environment": "prod", "at": FRIDAY, "duration": "30m"}))
    assert not why["allowed"] and any(r["code"] == "blackout" for r in why["reasons"])
    r = chris.get("/schedule/explain", params={"environment": "prod", "at": "2026-12-04T08:00:00", "duration": "30m"})
    assert r.status_code == 422 and r.json()["field"] == "at"


def test_conflicts_list_every_shared_item_and_block_until_accepted(as_):
    chris = as_("chris.change")
    first = authorized_change(as_, items=["mes-db", "mes-labels", "line-3"], planned_start=NOW)
    ok(move(chris, first, "schedule"))
    second = authorized_change(as_, items=["line-3", "mes-db", "erp"], planned_start="2026-12-01T08:15:00Z")
    r = move(chris, second, "schedule")
    assert r.status_code == 409
    conflict = [x for x in r.json()["reasons"] if x["code"] == "conflict"]
    assert len(conflict) == 1
    assert f"overlaps {first} on line-3, mes-db from 2026-12-01 08:15 to 2026-12-01 08:30 UTC" in conflict[0]["message"]
    listed = ok(chris.get(f"/changes/{second}/conflicts"))
    assert listed[0]["items"] == ["line-3", "mes-db"] and listed[0]["accepted"] is False
    r = as_("dana.dev").post(f"/changes/{second}/conflicts/accept", json={"other": first, "reason": "x"})
    assert r.status_code == 403
    accepted = ok(chris.post(f"/changes/{second}/conflicts/accept",
                             json={"other": first, "reason": "DBA on site; both scripts reviewed together"}))
    assert accepted[0]["accepted"] is True
    assert ok(move(chris, second, "schedule"))["state"] == "scheduled"
    cal = ok(chris.get("/calendar", params={"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z",
                                            "environment": "prod"}))
    assert [(c["change"], c["other"], c["accepted"]) for c in cal["conflicts"]] == [(first, second, True)]


def test_a_new_freeze_flags_scheduled_changes(as_):
    chris = as_("chris.change")
    ref = authorized_change(as_, planned_start="2026-12-02T08:00:00Z")
    ok(move(chris, ref, "schedule"))
    assert ok(chris.get(f"/changes/{ref}"))["schedule_problems"] == []
    r = as_("dana.dev").post("/freezes", json={"name": "audit", "start": "2026-12-02T00:00:00Z",
                                               "end": "2026-12-03T00:00:00Z", "reason": "ISO audit on site"})
    assert r.status_code == 403
    freeze = ok(chris.post("/freezes", json={"name": "audit week", "start": "2026-12-02T00:00:00Z",
                                             "end": "2026-12-03T00:00:00Z", "reason": "ISO audit on site",
                                             "environments": ["prod"]}), 201)
    assert freeze["affected_changes"] == [ref]
    problems = ok(chris.get(f"/changes/{ref}"))["schedule_problems"]
    assert len(problems) == 1 and "audit week" in problems[0]
    ok(chris.post(f"/freezes/{freeze['id']}/lift", json={"reason": "audit moved"}))
    assert ok(chris.get(f"/changes/{ref}"))["schedule_problems"] == []
    r = chris.post("/freezes", json={"name": "x", "start": "2026-12-03T00:00:00Z", "end": "2026-12-02T00:00:00Z",
                                     "reason": "y"})
    assert r.status_code == 422 and r.json()["field"] == "end"


def test_emergency_override_needs_a_reason_and_the_role_and_is_audited(as_):
    sam, chris = as_("sam.sysadmin"), as_("chris.change")
    ref = ok(sam.post("/changes", json=full_change(type="emergency", planned_start=FRIDAY)), 201)["ref"]
    ok(move(sam, ref, "submit"))
    ok(chris.post(f"/changes/{ref}/assessment", json={}))
    ok(as_("ines.itmgr").post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    r = move(chris, ref, "schedule")
    assert r.status_code == 409 and "override_needed" in {x["code"] for x in r.json()["reasons"]}
    scheduled = ok(move(chris, ref, "schedule", override_reason="line 2 is down; cannot wait for Tuesday"))
    assert scheduled["state"] == "scheduled"
    event = ok(chris.get(f"/changes/{ref}/history"))[-1]
    assert event["action"] == "change.schedule"
    assert event["detail"]["emergency_override"]["reason"] == "line 2 is down; cannot wait for Tuesday"


def test_calendar_feed_is_valid_icalendar(as_, tokens, server):
    import httpx

    chris = as_("chris.change")
    ref = authorized_change(as_, planned_start="2026-12-02T08:00:00Z")
    ok(move(chris, ref, "schedule"))
    r = httpx.get(server + "/api/v1/calendar.ics", params={"from": "2026-11-30T00:00:00Z", "to": "2026-12-07T00:00:00Z",
                                                           "environment": "prod", "token": tokens["audrey.audit"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(r.content)
    events = list(cal.walk("VEVENT"))
    summaries = [str(e["SUMMARY"]) for e in events]
    assert f"{ref}: Fix label rounding on line 3 [prod]" in summaries
    assert summaries.count("Deployment window: morning [prod]") == 3  # Tue, Wed, Thu
    assert any(s.startswith("Blackout: friday") for s in summaries)
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert httpx.get(server + "/api/v1/calendar.ics").status_code == 401


def prepared_for_gate(as_, **overrides) -> str:
    """A change that passes every Final Checkout rule when the pipeline deploys it now."""
    ref = authorized_change(as_, planned_start=NOW, **overrides)
    sam = as_("sam.sysadmin")
    ok(sam.post(f"/changes/{ref}/evidence", files={"file": ("rollback-rehearsal.log", b"restored in 4 min", "text/plain")},
                data={"kind": "rollback_test"}), 201)
    ok(move(as_("chris.change"), ref, "schedule"))
    ok(sam.post("/environments/uat/data-refresh", json={"at": "2026-11-20T00:00:00Z"}))
    return ref


def test_gate_opens_when_every_rule_passes(as_):
    ref = prepared_for_gate(as_)
    verdict = ok(as_("ci-pipeline").post(f"/changes/{ref}/gate", json={"environment": "prod"}))
    statuses = {r["rule"]: r["status"] for r in verdict["results"]}
    assert verdict["allowed"] is True
    assert statuses == {"authorized": "pass", "timing": "pass", "evidence": "pass", "rollback": "pass",
                        "isolation": "pass", "uat_freshness": "pass", "versioning": "pass",
                        "idempotent_sql": "not_assessed", "conflicts": "pass"}
    history = ok(as_("chris.change").get(f"/changes/{ref}/history"))
    assert history[-1]["action"] == "gate.evaluated" and history[-1]["detail"]["allowed"] is True


def test_gate_blocks_with_every_failing_rule(as_):
    ref = prepared_for_gate(as_, version=None)
    verdict = ok(as_("rene.release").post(f"/changes/{ref}/gate", json={"environment": "prod", "at": FRIDAY}))
    failed = {r["rule"]: r["message"] for r in verdict["results"] if r["status"] == "fail"}
    assert verdict["allowed"] is False
    assert set(failed) == {"timing", "isolation", "versioning"}
    assert "developer" in failed["isolation"]
    timing = [r["message"] for r in verdict["results"] if r["rule"] == "timing"]  # the windows, then its own slot
    assert "friday" in timing[0] and timing[1].startswith("now (2026-12-04 08:00 UTC) is after")
    stale = ok(as_("ci-pipeline").post(f"/changes/{ref}/gate", json={"environment": "prod",
                                                                      "at": "2027-01-05T08:00:00Z"}))
    assert any(r["rule"] == "uat_freshness" and r["status"] == "fail" and "46 days ago" in r["message"]
               for r in stale["results"])


def test_gate_on_a_draft_and_an_unknown_environment(as_):
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    verdict = ok(as_("ci-pipeline").post(f"/changes/{ref}/gate", json={"environment": "prod"}))
    assert not verdict["allowed"]
    assert {r["rule"] for r in verdict["results"] if r["status"] == "fail"} >= {"authorized", "evidence", "rollback"}
    r = as_("ci-pipeline").post(f"/changes/{ref}/gate", json={"environment": "staging"})
    assert r.status_code == 422 and r.json()["field"] == "environment"


@pytest.mark.parametrize("env", ["dev", "uat"])
def test_lower_environments_apply_fewer_rules(as_, env):
    ref = ok(as_("dana.dev").post("/changes", json=full_change(environment=env)), 201)["ref"]
    verdict = ok(as_("ci-pipeline").post(f"/changes/{ref}/gate", json={"environment": env}))
    assert {r["rule"] for r in verdict["results"]} == {"authorized", "isolation", "conflicts"}


def test_api_and_local_cli_share_the_default_calendar_range_and_the_freeze_answer(as_, runtime, clock):
    """The default range and the freeze answer are the service's rules: the API and the local CLI cannot differ."""
    from changegate.cli.local import LocalClient

    audrey, local = as_("audrey.audit"), LocalClient(runtime, "audrey.audit")
    clock.advance(hours=3, minutes=7)  # both follow the runtime's clock, not a clock of their own
    api_cal, local_cal = ok(audrey.get("/calendar")), local.calendar({})
    assert (api_cal["start"], api_cal["end"]) == (local_cal["start"], local_cal["end"])
    assert api_cal["start"].startswith("2026-12-01T11:07") and api_cal["end"].startswith("2026-12-31T11:07")
    # A start alone: both end 30 days after it.
    start = "2026-12-10T00:00:00Z"
    api_cal, local_cal = ok(audrey.get("/calendar", params={"from": start})), local.calendar({"from": start})
    assert api_cal["end"] == local_cal["end"] and api_cal["end"].startswith("2027-01-09T00:00")

    freeze = {"name": "audit week", "start": "2026-12-14T00:00:00Z", "end": "2026-12-18T00:00:00Z",
              "reason": "external audit", "environments": ["prod"]}
    api_freeze = ok(as_("chris.change").post("/freezes", json=freeze), 201)
    local_freeze = LocalClient(runtime, "chris.change").add_freeze({**freeze, "name": "audit week 2"})
    assert set(api_freeze) == set(local_freeze) and local_freeze["affected_changes"] == []
