"""The request body cap (413 before the body is read; uploads keep their own limit) and /docs offline.

The engine does not matter here: these run on SQLite only, over real HTTP.
"""

from __future__ import annotations

import re

import httpx
import pytest

from changegate.db.engine import make_engine
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

from test_changes_api import full_change, ok

BODY_LIMIT = 16 * 1024
EVIDENCE_LIMIT = 256 * 1024


@pytest.fixture
def database_url(tmp_path):
    from changegate.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'limits.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def runtime(database_url, clock):
    settings = Settings(database_url=database_url, max_body_bytes=BODY_LIMIT, max_evidence_bytes=EVIDENCE_LIMIT)
    rt = Runtime(settings, make_engine(database_url), load_policy(DEFAULT_POLICY), clock)
    yield rt
    rt.close()


def test_the_default_body_limit_is_one_mebibyte(monkeypatch):
    assert Settings().max_body_bytes == 1024 * 1024
    monkeypatch.setenv("CHANGEGATE_MAX_BODY_BYTES", "2048")
    assert Settings().max_body_bytes == 2048


def test_a_50_mb_title_is_refused_with_413_naming_the_limit(as_):
    dana = as_("dana.dev")
    body = full_change(title="x" * (50 * 1024 * 1024))
    r = dana.post("/changes", json=body)
    assert r.status_code == 413, r.text[:200]
    assert r.json() == {"error": "payload_too_large", "field": "body",
                        "message": f"the request body is larger than the limit of {BODY_LIMIT} bytes"}
    assert ok(dana.get("/changes"))["total"] == 0


def test_a_streamed_body_without_length_is_counted_as_it_arrives(as_):
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(50 * 1024):  # 50 MB in 1 KiB chunks, no Content-Length: chunked transfer encoding
            sent += 1024
            yield b'{"title": "' if sent == 1024 else b"x" * 1024

    r = as_("dana.dev").post("/changes", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and str(BODY_LIMIT) in r.json()["message"]
    # The server answered long before the client had sent everything: it did not read the body whole.
    assert sent < 50 * 1024 * 1024


def test_a_body_under_the_limit_passes(as_):
    ok(as_("dana.dev").post("/changes", json=full_change(description="y" * (BODY_LIMIT // 2))), 201)


def test_evidence_uploads_keep_their_own_larger_limit(as_):
    dana = as_("dana.dev")
    ref = ok(dana.post("/changes", json=full_change()), 201)["ref"]
    log = b"passed\n" * (BODY_LIMIT // 7 * 4)  # four times the body limit, well under the evidence limit
    ok(dana.post(f"/changes/{ref}/evidence", files={"file": ("uat.log", log, "text/plain")}), 201)
    too_big = dana.post(f"/changes/{ref}/evidence", files={"file": ("big.log", b"x" * (EVIDENCE_LIMIT * 2),
                                                                   "text/plain")})
    assert too_big.status_code == 413


def test_docs_load_from_the_server_itself(server):
    # The OpenAPI document is built on the first request: seconds on a loaded machine, above httpx's 5 s default.
    get = httpx.Client(timeout=60).get
    for page in ("/docs", "/redoc"):
        html = get(server + page).text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        assert not [u for u in urls if "//" in u], f"{page} refers to another host: {urls}"
        for url in urls:
            assert get(server + url).status_code == 200, url
    assert "swagger-ui-bundle.js" in get(server + "/docs").text
