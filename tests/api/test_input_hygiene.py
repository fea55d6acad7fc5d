"""Bad input never reaches a 500 and never becomes nonsense: over real HTTP, on SQLite and PostgreSQL.

PostgreSQL's text cannot hold NUL, and UTF-8 cannot encode an unpaired surrogate: both used to reach the
database and come back as a plain-text 500 there. Integers used to be read as seconds since 1970, titles
of spaces became empty titles, a misspelt filter matched nothing.
"""

from __future__ import annotations

import json

import pytest

from test_changes_api import full_change, ok

NUL = "line\x003"


def refused(response, field: str, status: int = 422) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["field"] == field, body
    return body["message"]


# --- 1. characters PostgreSQL's text cannot hold ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/changes", "state"),
        ("/changes", "q"),
        ("/changes", "requester"),
        ("/changes", "environment"),
        ("/changes", "type"),
        ("/tokens", "person"),
        ("/calendar", "environment"),
        ("/schedule/next-slot", "environment"),
        ("/schedule/next-slot", "item"),
    ],
)
def test_a_nul_byte_in_any_query_parameter_is_refused_naming_it(as_, path, param):
    chris = as_("chris.change")
    params = {"environment": "prod", "duration": "30m", param: NUL} if "schedule" in path else {param: NUL}
    message = refused(chris.get(path, params=params), param)
    assert message == f"{param}: contains U+0000 control character at position 4"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/changes", full_change(environment=NUL), "environment"),
        ("/changes", full_change(template=NUL), "template"),
        ("/changes", full_change(description=NUL), "description"),
        ("/changes/CHG-1/approvals", {"role": NUL}, "role"),
        ("/changes/CHG-1/gate", {"environment": NUL}, "environment"),
        ("/changes/CHG-1/conflicts/accept", {"other": NUL, "reason": "ok"}, "other"),
        ("/tokens", {"person": NUL, "name": "ci"}, "person"),
        ("/freezes", {"name": "audit", "start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z",
                      "reason": "audit", "environments": [NUL]}, "environments.0"),
    ],
)
def test_a_nul_byte_in_any_body_string_is_refused_naming_the_field(as_, path, body, field):
    chris = as_("chris.change")
    ok(chris.post("/changes", json=full_change()), 201)
    assert "U+0000" in refused(chris.post(path, json=body), field)


def test_an_unpaired_surrogate_is_refused_not_a_500(as_):
    dana = as_("dana.dev")
    body = json.dumps(full_change(title="x")).replace('"x"', '"\\ud800 label"').encode()
    refused(dana.post("/changes", content=body, headers={"Content-Type": "application/json"}), "title")
    assert ok(dana.get("/changes"))["total"] == 0


# --- 2. date-times are strings with an offset, strictly ---------------------------------------------------


@pytest.mark.parametrize("value", [0, 1_764_576_000, 0.5, "0", "1764576000"])
def test_numbers_are_not_date_times_in_bodies(as_, value):
    chris = as_("chris.change")
    assert "ISO 8601 date-time" in refused(chris.post("/environments/uat/data-refresh", json={"at": value}), "at")
    freeze = {"name": "audit", "start": value, "end": "2026-12-03T00:00:00Z", "reason": "audit"}
    refused(chris.post("/freezes", json=freeze), "start")
    refused(chris.post("/changes", json=full_change(planned_start=value)), "planned_start")
    assert ok(chris.get("/freezes", params={"from": "2026-01-01T00:00:00Z"})) == []


@pytest.mark.parametrize(("path", "param", "extra"), [
    ("/calendar", "to", {}),
    ("/freezes", "from", {}),
    ("/calendar.ics", "from", {}),
    ("/schedule/next-slot", "after", {"environment": "prod", "duration": "30m"}),
    ("/schedule/explain", "at", {"environment": "prod", "duration": "30m"}),
])
def test_numbers_are_not_date_times_in_query_parameters(as_, path, param, extra):
    chris = as_("chris.change")
    for value in ("0.5", "0", "1764576000"):
        assert "ISO 8601 date-time" in refused(chris.get(path, params={param: value, **extra}), param)


def test_a_date_time_without_offset_is_refused_saying_to_add_one(as_):
    chris = as_("chris.change")
    message = refused(chris.get("/calendar", params={"from": "2026-12-01T09:00:00"}), "from")
    assert "add one" in message and "offset" in message
    message = refused(chris.post("/environments/uat/data-refresh", json={"at": "2026-12-01T09:00:00"}), "at")
    assert "offset" in message


# --- 3. blank and invisible characters in names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "\u00a0\u3000 "}, "title"),  # no-break and ideographic spaces are spaces too
        ({"items": ["mes-labels", "   "]}, "items.1"),
        ({"template": "  "}, "template"),
    ],
)
def test_blank_names_are_refused(as_, body, field):
    dana = as_("dana.dev")
    assert "must not be blank" in refused(dana.post("/changes", json=full_change(**body)), field)
    assert ok(dana.get("/changes"))["total"] == 0


def test_blank_reasons_and_names_elsewhere_are_refused(as_):
    chris = as_("chris.change")
    freeze = {"name": "   ", "start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z", "reason": "audit"}
    refused(chris.post("/freezes", json=freeze), "name")
    refused(chris.post("/freezes", json={**freeze, "name": "audit", "reason": " \n "}), "reason")
    refused(chris.post("/tokens", json={"person": "dana.dev", "name": "  "}), "name")
    ref = ok(chris.post("/changes", json=full_change()), 201)["ref"]
    refused(chris.post(f"/changes/{ref}/comments", json={"body": "  \n"}), "body")


@pytest.mark.parametrize(
    ("char", "name"),
    [
        ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\u2069", "U+2069 POP DIRECTIONAL ISOLATE"),
        ("\x1b", "U+001B control character"),
        ("\n", "U+000A control character"),
    ],
)
def test_invisible_characters_in_titles_and_names_are_refused_and_shown(as_, char, name):
    chris = as_("chris.change")
    title = f"Fix invoice{char}fdp.exe"
    assert refused(chris.post("/changes", json=full_change(title=title)), "title") == (
        f"title: contains {name} at position 11")
    assert name in refused(chris.post("/changes", json=full_change(items=[f"line{char}3"])), "items.0")
    ref = ok(chris.post("/changes", json=full_change()), 201)["ref"]
    assert name in refused(chris.post(f"/changes/{ref}/approvals", json={"role": f"it{char}_manager"}), "role")
    freeze = {"name": f"audit{char}", "start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z",
              "reason": "audit"}
    assert name in refused(chris.post("/freezes", json=freeze), "name")
    assert name in refused(chris.post("/tokens", json={"person": "dana.dev", "name": f"ci{char}"}), "name")


def test_reasons_may_span_lines_but_hold_no_invisible_character(as_):
    chris = as_("chris.change")
    freeze = {"name": "audit", "start": "2026-12-02T00:00:00Z", "end": "2026-12-03T00:00:00Z",
              "reason": "ISO audit\n\ton site"}
    assert ok(chris.post("/freezes", json=freeze), 201)["reason"] == "ISO audit\n\ton site"
    message = refused(chris.post("/freezes", json={**freeze, "reason": "audit \u202eetis no"}), "reason")
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in message
    # Free text (descriptions, plans, comments) keeps its line breaks and everything printable.
    change = ok(chris.post("/changes", json=full_change(description="Line 1\nLine 2 \u2014 caf\u00e9")), 201)
    assert change["description"] == "Line 1\nLine 2 \u2014 caf\u00e9"


# --- 5. misspelt filter values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "value", "known"),
    [
        ("state", "sheduled", "draft, submitted, assessed, authorized, scheduled"),
        ("type", "norml", "standard, normal, emergency"),
        ("environment", "staging", "dev, uat, prod"),
    ],
)
def test_a_misspelt_filter_value_is_refused_with_the_known_values(as_, param, value, known):
    dana = as_("dana.dev")
    ok(dana.post("/changes", json=full_change()), 201)
    message = refused(dana.get("/changes", params={param: ["draft" if param == "state" else value, value]}), param)
    assert f"unknown value {value!r}" in message and known in message
    assert ok(dana.get("/changes", params={"state": "scheduled"}))["total"] == 0  # known but empty: fine


# --- 6. 405 carries Allow ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/changes", "GET, POST"),
    ("PUT", "/ping", "GET"),
    ("DELETE", "/freezes", "GET, POST"),
    ("POST", "/changes/CHG-1", "GET, PATCH"),
])
def test_method_not_allowed_names_the_allowed_methods(as_, method, path, allow):
    r = as_("dana.dev").request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.json()["error"] == "method_not_allowed"


def test_a_nul_byte_in_an_evidence_description_is_refused_naming_it(as_):
    """The upload's form fields are text like any other: PostgreSQL cannot store NUL (it was a 500 there)."""
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    response = dana.post(f"/changes/{ref}/evidence", files={"file": ("uat.log", b"42 passed", "text/plain")},
                         data={"kind": "test_log", "description": NUL})
    refused(response, "description")
    assert ok(dana.get(f"/changes/{ref}"))["evidence"] == []
