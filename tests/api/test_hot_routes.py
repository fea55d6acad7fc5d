"""The hot routes (GET a change, the gate, creation) read the bearer token without HTTPBearer (issue 13,
api/deps.py: bearer_of): they must still authenticate first, accept exactly what HTTPBearer accepts, and
document the same security in OpenAPI."""

from __future__ import annotations

import httpx
import pytest

HOT = [("GET", "/api/v1/changes/CHG-1"), ("POST", "/api/v1/changes/CHG-1/gate"), ("POST", "/api/v1/changes")]


@pytest.mark.parametrize("method,path", HOT)
def test_a_request_without_a_token_is_refused_before_its_body_is_read(server, method, path):
    for headers in ({}, {"Authorization": "Basic ZGFuYTpwdw=="}, {"Authorization": "Bearer"},
                    {"Authorization": "cg_abc"}):
        r = httpx.request(method, server + path, headers=headers, json={"environment": 42, "title": []})
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["message"] == "send an API token: 'Authorization: Bearer cg_…'"


def test_the_scheme_is_case_insensitive_as_with_httpbearer(server, tokens, runtime):
    from changegate.services import changes

    with runtime.uow() as uow:
        ref = changes.create_change(uow, runtime.context("dana.dev"), changes.ChangeCreate(
            title="Relabel", category="application", release_level="patch", environment="prod",
            items=["mes-labels"])).ref
    headers = {"Authorization": f"bearer {tokens['dana.dev']}"}
    assert httpx.get(f"{server}/api/v1/changes/{ref}", headers=headers).status_code == 200
    assert httpx.post(f"{server}/api/v1/changes/{ref}/gate", headers=headers,
                      json={"environment": "prod"}).status_code == 200


def test_openapi_documents_the_bearer_requirement_on_the_hot_routes(server):
    schema = httpx.get(server + "/openapi.json", timeout=60).json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    for method, path in HOT:
        path = path.replace("CHG-1", "{ref}")
        assert schema["paths"][path][method.lower()]["security"] == [{"HTTPBearer": []}], path
