"""The change lifecycle through the REST API, on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import httpx
import pytest

START = "2026-12-02T08:00:00Z"  # Wednesday 09:00 Europe/Berlin: inside the default window


def full_change(**overrides) -> dict:
    body = {
        "title": "Fix label rounding on line 3",
        "type": "normal",
        "category": "application",
        "release_level": "patch",
        "environment": "prod",
        "items": ["mes-labels", "line-3"],
        "impact_analysis": "Line 3 label printing only.",
        "implementation_plan": "Deploy mes-labels 2.4.1 with the pipeline.",
        "verification_plan": "Print one label at T+15.",
        "rollback_plan": {"script": "deploy mes-labels 2.4.0", "interpreter": "sh"},
        "planned_start": START,
        "estimated_downtime": "30m",
        "version": "2.4.1",
    }
    body.update(overrides)
    return body


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def attach_log(client, ref: str, name: str = "uat.log", content: bytes = b"42 passed, 0 failed\n"):
    return client.post(f"/changes/{ref}/evidence", files={"file": (name, content, "text/plain")},
                       data={"kind": "test_log"})


def move(client, ref: str, action: str, **extra):
    return client.post(f"/changes/{ref}/transitions", json={"action": action, **extra})


def pass_the_gate(as_, clock, ref: str, *, rehearse: bool = True) -> None:
    """What the Final Checkout asks before a PROD start: a recent UAT refresh, a rehearsed rollback,
    and "now" inside the change's slot (START + 5 min)."""
    ok(as_("sam.sysadmin").post("/environments/uat/data-refresh", json={"at": "2026-11-20T06:00:00Z"}))
    if rehearse:
        ok(as_("dana.dev").post(f"/changes/{ref}/evidence", data={"kind": "rollback_test"},
                                files={"file": ("rehearsal.log", b"rollback ok\n", "text/plain")}), 201)
    clock.now = datetime(2026, 12, 2, 8, 5, tzinfo=timezone.utc)


def test_normal_change_full_lifecycle(as_, clock):
    dana, kim, chris, ines, omar, sam = (as_(p) for p in
                                         ("dana.dev", "kim.keyuser", "chris.change", "ines.itmgr", "omar.ops",
                                          "sam.sysadmin"))
    change = ok(dana.post("/changes", json=full_change(release_level="minor")), 201)
    ref = change["ref"]
    assert change["state"] == "draft"
    assert change["approval"]["required"] == ["it_manager", "operations_manager"]

    refused = move(dana, ref, "submit")
    assert refused.status_code == 409
    assert refused.json()["message"] == f"cannot submit {ref}: no test evidence"

    evidence = ok(attach_log(dana, ref), 201)
    assert evidence["sha256"] == hashlib.sha256(b"42 passed, 0 failed\n").hexdigest()
    assert evidence["size"] == 20 and evidence["uploaded_by"] == "dana.dev" and evidence["media_type"] == "text/plain"
    ok(kim.post(f"/changes/{ref}/uat-signoff", json={"note": "passed on UAT"}))
    assert ok(move(dana, ref, "submit"))["state"] == "submitted"
    assert ok(chris.post(f"/changes/{ref}/assessment", json={"risk_analysis": "low"}))["state"] == "assessed"
    after_first = ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager", "reason": "fine"}))
    assert after_first["state"] == "assessed" and after_first["approval"]["missing"] == ["operations_manager"]
    assert ok(omar.post(f"/changes/{ref}/approvals", json={"role": "operations_manager"}))["state"] == "authorized"
    assert ok(move(chris, ref, "schedule"))["state"] == "scheduled"
    pass_the_gate(as_, clock, ref)
    assert ok(move(sam, ref, "start"))["state"] == "implementing"
    done = ok(move(sam, ref, "complete"))
    assert done["state"] == "completed" and done["closed_at"] and done["available_actions"] == []

    actions = [e["action"] for e in ok(chris.get(f"/changes/{ref}/history"))]
    assert actions == ["change.created", "change.submit.refused", "evidence.attached", "change.uat_signed_off",
                       "change.submit", "change.assess", "approval.approved", "approval.approved",
                       "change.authorize", "change.schedule", "evidence.attached", "change.start",
                       "change.complete"]
    assert ok(as_("audrey.audit").get("/audit/verify"))["ok"] is True


def test_standard_change_skips_assessment_and_authorization(as_, clock):
    chris, sam = as_("chris.change"), as_("sam.sysadmin")
    change = ok(chris.post("/changes", json={"title": "Restart spooler", "type": "standard", "environment": "prod",
                                             "template": "restart-label-printer-service", "planned_start": START}),
                201)
    assert change["type"] == "standard" and change["rollback_plan"]["script"] == "systemctl restart cups"
    assert change["approval"]["required"] == [] and change["estimated_downtime_minutes"] == 5
    assert ok(move(chris, change["ref"], "submit"))["state"] == "authorized"
    assert ok(move(chris, change["ref"], "schedule"))["state"] == "scheduled"
    # Its template vouches for evidence, rollback and version: no sign-off, rehearsal or version of its own.
    pass_the_gate(as_, clock, change["ref"], rehearse=False)
    assert ok(move(sam, change["ref"], "start"))["state"] == "implementing"
    assert ok(move(sam, change["ref"], "complete"))["state"] == "completed"


def test_standard_change_needs_a_known_template_for_its_environment(as_):
    chris = as_("chris.change")
    r = chris.post("/changes", json={"title": "x", "type": "standard", "environment": "prod"})
    assert r.status_code == 422 and r.json()["field"] == "template"
    r = chris.post("/changes", json={"title": "x", "environment": "dev", "template": "restart-label-printer-service"})
    assert r.status_code == 422 and "not approved for dev" in r.json()["message"]


def test_emergency_change_runs_first_and_is_approved_retroactively(as_, runtime, clock):
    sam, ines, omar = as_("sam.sysadmin"), as_("ines.itmgr"), as_("omar.ops")
    change = ok(sam.post("/changes", json=full_change(type="emergency", release_level="minor",
                                                      title="Scanner timeout stops line 2")), 201)
    ref = change["ref"]
    assert ok(move(sam, ref, "submit"))["state"] == "submitted"  # no evidence needed up front
    blocked = move(sam, ref, "start")  # a day early, without evidence: the gate is blocked ...
    assert blocked.status_code == 409 and blocked.json()["reasons"][-1]["code"] == "override_needed"
    started = ok(move(sam, ref, "start", override_reason="line 2 is down"))  # ... and an emergency overrides it
    assert started["state"] == "implementing"
    assert started["emergency_status"] == "pending"
    assert started["retro_approval_due"].startswith("2026-12-03T08:00")  # 48 h after start
    ok(move(sam, ref, "complete"))
    ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    clock.advance(hours=49)
    late = ok(sam.get(f"/changes/{ref}"))
    assert late["emergency_status"] == "overdue"
    retro = ok(omar.post(f"/changes/{ref}/approvals", json={"role": "operations_manager"}))
    assert retro["emergency_status"] == "approved"
    assert all(a["retroactive"] for a in retro["approvals"])


def test_failed_change_is_rolled_back_with_reasons(as_, clock):
    dana, chris, ines, sam = as_("dana.dev"), as_("chris.change"), as_("ines.itmgr"), as_("sam.sysadmin")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    ok(attach_log(dana, ref), 201)
    ok(move(dana, ref, "submit"))
    ok(chris.post(f"/changes/{ref}/assessment", json={}))
    ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    ok(move(chris, ref, "schedule"))
    pass_the_gate(as_, clock, ref)
    ok(as_("kim.keyuser").post(f"/changes/{ref}/uat-signoff", json={}))
    ok(move(sam, ref, "start"))
    r = move(sam, ref, "fail")
    assert r.status_code == 409 and "a reason is required to fail" in r.json()["message"]
    assert ok(move(sam, ref, "fail", reason="smoke test failed"))["state"] == "failed"
    assert ok(move(sam, ref, "roll_back", reason="restored 2.4.0 in 6 min"))["state"] == "rolled_back"


def test_rejection_by_an_approver_ends_the_change(as_):
    dana, chris, ines = as_("dana.dev"), as_("chris.change"), as_("ines.itmgr")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    ok(attach_log(dana, ref), 201)
    ok(move(dana, ref, "submit"))
    ok(chris.post(f"/changes/{ref}/assessment", json={}))
    r = ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager", "decision": "rejected"})
    assert r.status_code == 409 and "a rejection needs a reason" in r.json()["message"]
    rejected = ok(ines.post(f"/changes/{ref}/approvals",
                            json={"role": "it_manager", "decision": "rejected", "reason": "no backup"}))
    assert rejected["state"] == "rejected"


def test_approval_rules_own_change_two_slots_and_role_holders(as_, runtime):
    # Chris is change manager; give him a change to approve that he requested himself.
    chris, ines, omar = as_("chris.change"), as_("ines.itmgr"), as_("omar.ops")
    ref = ok(chris.post("/changes", json=full_change(release_level="minor")), 201)["ref"]
    ok(attach_log(chris, ref), 201)
    ok(move(chris, ref, "submit"))
    ok(as_("cab.carla").post(f"/changes/{ref}/assessment", json={}))  # separation of duties: not Chris himself
    r = ines.post(f"/changes/{ref}/approvals", json={"role": "operations_manager"})
    assert r.status_code == 409
    assert [x["code"] for x in r.json()["reasons"]] == ["not_role_holder"]
    ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    r = ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"})
    assert {x["code"] for x in r.json()["reasons"]} >= {"slot_filled", "already_decided"}
    r = omar.post(f"/changes/{ref}/approvals", json={"role": "cio"})
    assert {x["code"] for x in r.json()["reasons"]} == {"not_role_holder", "role_not_required"}
    r = chris.post(f"/changes/{ref}/approvals", json={"role": "operations_manager"})
    assert r.status_code == 403  # change managers hold no approval permission in the default policy


def test_developers_never_deploy_to_production(as_):
    dana, chris, ines = as_("dana.dev"), as_("chris.change"), as_("ines.itmgr")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    ok(attach_log(dana, ref), 201)
    ok(move(dana, ref, "submit"))
    ok(chris.post(f"/changes/{ref}/assessment", json={}))
    ok(ines.post(f"/changes/{ref}/approvals", json={"role": "it_manager"}))
    ok(move(chris, ref, "schedule"))
    r = move(as_("rene.release"), ref, "start")  # release engineers may implement, but they are developers
    assert r.status_code == 403
    assert r.json()["reasons"][0]["code"] == "developer_on_production"
    history = ok(chris.get(f"/changes/{ref}/history"))
    assert history[-1]["action"] == "change.implement.refused" and history[-1]["actor"] == "rene.release"


def test_list_filter_search_and_paging(as_):
    dana, sam = as_("dana.dev"), as_("sam.sysadmin")
    for i in range(7):
        ok(dana.post("/changes", json=full_change(title=f"Label fix {i}", items=[f"line-{i}"])), 201)
    ok(sam.post("/changes", json=full_change(title="Autovacuum tuning", category="software_configuration",
                                             environment="uat", items=["mes-db"])), 201)
    page = ok(dana.get("/changes", params={"limit": 3, "offset": 0}))
    assert page["total"] == 8 and [c["title"] for c in page["items"]] == ["Autovacuum tuning", "Label fix 6",
                                                                           "Label fix 5"]
    page2 = ok(dana.get("/changes", params={"limit": 3, "offset": 3}))
    assert [c["title"] for c in page2["items"]] == ["Label fix 4", "Label fix 3", "Label fix 2"]
    assert ok(dana.get("/changes", params={"environment": "uat"}))["total"] == 1
    assert ok(dana.get("/changes", params={"requester": "sam.sysadmin"}))["items"][0]["title"] == "Autovacuum tuning"
    assert ok(dana.get("/changes", params={"q": "AUTOVAC"}))["total"] == 1
    assert ok(dana.get("/changes", params={"q": "mes-db"}))["total"] == 1  # item names are searched too
    assert ok(dana.get("/changes", params={"q": "100%_"}))["total"] == 0  # LIKE wildcards are literal
    assert ok(dana.get("/changes", params={"state": ["draft", "submitted"]}))["total"] == 8
    assert ok(dana.get("/changes", params={"state": "completed"}))["total"] == 0


def test_list_filters_by_release_level_and_planned_start(as_, server):
    """The web list's level and planned-date filters, through the API (the same service)."""
    dana = as_("dana.dev")
    ok(dana.post("/changes", json=full_change(title="Minor, 2 Dec", release_level="minor")), 201)
    ok(dana.post("/changes", json=full_change(title="Patch, 9 Dec", planned_start="2026-12-09T08:00:00Z")), 201)
    unplanned = full_change(title="Patch, unplanned")
    del unplanned["planned_start"]
    ok(dana.post("/changes", json=unplanned), 201)
    titles = lambda **params: sorted(c["title"] for c in ok(dana.get("/changes", params=params))["items"])  # noqa: E731
    assert titles(release_level="minor") == ["Minor, 2 Dec"]
    assert titles(release_level=["minor", "patch"]) == ["Minor, 2 Dec", "Patch, 9 Dec", "Patch, unplanned"]
    assert titles(planned_from="2026-12-05T00:00:00+01:00") == ["Patch, 9 Dec"]
    assert titles(planned_before="2026-12-02T08:00:01Z") == ["Minor, 2 Dec"]  # the bound is exclusive
    assert titles(planned_before="2026-12-02T08:00:00Z") == []
    assert titles(planned_from="2026-12-01T00:00:00Z", planned_before="2026-12-10T00:00:00Z",
                  release_level="patch") == ["Patch, 9 Dec"]
    bad = dana.get("/changes", params={"release_level": "huge"})
    assert bad.status_code == 422 and bad.json()["field"] == "release_level", bad.text
    naive = dana.get("/changes", params={"planned_from": "2026-12-01T00:00:00"})
    assert naive.status_code == 422 and "planned_from" in naive.text, naive.text
    backwards = dana.get("/changes", params={"planned_from": "2026-12-09T00:00:00Z",
                                             "planned_before": "2026-12-01T00:00:00Z"})
    assert backwards.status_code == 422 and backwards.json()["field"] == "planned_before", backwards.text
    documented = {p["name"] for p in httpx.get(server + "/openapi.json", timeout=30).json()["paths"]["/api/v1/changes"]["get"]["parameters"]}
    assert {"release_level", "planned_from", "planned_before"} <= documented


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "weird"}, "type"),
        ({"category": "plumbing"}, "category"),
        ({"release_level": "huge"}, "release_level"),
        ({"planned_start": "2026-12-02T08:00:00"}, "planned_start"),  # no time zone
        ({"estimated_downtime": "soon"}, "estimated_downtime"),
        ({"title": ""}, "title"),
        ({"title": "bad\x00title"}, "title"),
        ({"version": "v1"}, "version"),
        ({"environment": "staging"}, "environment"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(as_, body, field):
    dana = as_("dana.dev")
    r = dana.post("/changes", json=full_change(**body))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert ok(dana.get("/changes"))["total"] == 0


def test_malformed_and_non_utf8_json_bodies(as_):
    dana = as_("dana.dev")
    r = dana.post("/changes", content=b'{"title": "x",', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    assert r.json()["message"].startswith("body: malformed JSON at character 14:")
    r = dana.post("/changes", content=b'{"title": "caf\xe9", "environment": "prod"}',
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_input", "message": "the request body is not valid UTF-8 JSON",
                        "field": "body"}
    assert ok(dana.get("/changes"))["total"] == 0


@pytest.mark.parametrize(
    ("name", "content", "field", "phrase"),
    [
        ("../../etc/passwd", b"root:x:0:0", "filename", "path separator"),
        ("..", b"x", "filename", "relative path"),
        ("empty.log", b"", "file", "is empty"),
        ("huge.log", b"x" * (64 * 1024 + 1), "file", "the limit is 65536"),
    ],
)
def test_bad_evidence_is_refused_and_nothing_is_stored(as_, name, content, field, phrase):
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    r = attach_log(dana, ref, name=name, content=content)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and phrase in r.json()["message"]
    change = ok(dana.get(f"/changes/{ref}"))
    assert change["evidence"] == [] and change["row_version"] == 1


def test_evidence_download_round_trips_bytes(as_):
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    png = bytes(range(256)) * 10
    ev = ok(dana.post(f"/changes/{ref}/evidence", files={"file": ("screen shot.png", png, "image/png")},
                      data={"kind": "screenshot"}), 201)
    r = dana.get(f"/changes/{ref}/evidence/{ev['id']}")
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    assert "screen%20shot.png" in r.headers["content-disposition"]


def test_stale_version_is_refused(as_):
    dana = as_("dana.dev")
    change = ok(dana.post("/changes", json=full_change()), 201)
    ok(dana.patch(f"/changes/{change['ref']}", json={"title": "New title", "expected_version": 1}))
    r = dana.patch(f"/changes/{change['ref']}", json={"title": "Newer title", "expected_version": 1})
    assert r.status_code == 409 and "changed meanwhile" in r.json()["message"]
    assert ok(dana.get(f"/changes/{change['ref']}"))["title"] == "New title"


def test_authentication_and_token_revocation(server, as_, tokens):
    import httpx

    anonymous = httpx.get(server + "/api/v1/changes")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    bogus = httpx.get(server + "/api/v1/changes", headers={"Authorization": "Bearer cg_nope"})
    assert bogus.status_code == 401 and bogus.json()["message"] == "unknown API token"
    chris = as_("chris.change")
    created = ok(chris.post("/tokens", json={"person": "ci-pipeline", "name": "gitlab"}), 201)
    pipeline = httpx.Client(base_url=server + "/api/v1", headers={"Authorization": f"Bearer {created['secret']}"})
    assert ok(pipeline.get("/me"))["id"] == "ci-pipeline"
    ok(chris.delete(f"/tokens/{created['id']}"))
    r = pipeline.get("/me")
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    listed = ok(chris.get("/tokens", params={"person": "ci-pipeline"}))
    assert all("secret" not in t for t in listed)
    r = as_("dana.dev").post("/tokens", json={"person": "ci-pipeline", "name": "steal"})
    assert r.status_code == 403
    # Without a person, a token manager lists everyone's tokens and anyone else only their own.
    assert {t["person_id"] for t in ok(as_("dana.dev").get("/tokens"))} == {"dana.dev"}
    assert {"dana.dev", "ci-pipeline"} <= {t["person_id"] for t in ok(chris.get("/tokens"))}
    assert as_("dana.dev").get("/tokens", params={"person": "ci-pipeline"}).status_code == 403


def test_ping_and_openapi(server):
    import httpx

    assert httpx.get(server + "/api/v1/ping").json() == {"ok": True}
    schema = httpx.get(server + "/openapi.json", timeout=60).json()
    assert "/api/v1/changes/{ref}/transitions" in schema["paths"]


def test_write_endpoints_answer_with_the_status_their_openapi_documents(as_, server):
    """Endpoints send the service's model themselves; the status must still be the documented one."""
    dana = as_("dana.dev")
    paths = dana.get(f"{server}/openapi.json").json()["paths"]
    assert "201" in paths["/api/v1/changes"]["post"]["responses"]
    assert "201" in paths["/api/v1/changes/{ref}/comments"]["post"]["responses"]
    created = ok(dana.post("/changes", json=full_change()), 201)
    commented = ok(dana.post(f"/changes/{created['ref']}/comments", json={"body": "Checked with line 3."}), 201)
    assert [(c["author"], c["body"]) for c in commented["comments"]] == [("dana.dev", "Checked with line 3.")]
