"""The web pages in a real browser: Debian's Chromium driven by Playwright, against the live server.

Chromium is the system's (``/usr/bin/chromium``, installed by .ci/run); Playwright never downloads a
browser. A missing Chromium or Playwright skips these tests, and fails them under CHANGEGATE_REQUIRE_ALL=1.
Screenshots of the main pages go to tests/web/screenshots/ (git-ignored), to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from changegate.db.engine import make_engine
from changegate.services import passwords
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings

from browsing import PASSWORD


def missing(what: str) -> None:
    """As tests/conftest.py's: skip, or fail under CHANGEGATE_REQUIRE_ALL=1."""
    if os.environ.get("CHANGEGATE_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required (CHANGEGATE_REQUIRE_ALL=1) but unavailable")
    pytest.skip(f"{what} unavailable")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Besides the default policy's people: an IT manager who also writes code, to try approving her own change.
IVY = {"id": "ivy.itdev", "name": "Ivy IT-Developer", "roles": ["developer", "it_manager"]}


@pytest.fixture(scope="session")
def web_policy(tmp_path_factory) -> Path:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    data["people"].append(IVY)
    # Public holidays (Bavaria), to show on the calendar: the 25th and 26th of December among them.
    data["schedule"]["blackouts"].append({"name": "holidays", "kind": "holidays", "country": "DE",
                                          "subdivision": "BY"})
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def runtime(database_url, clock, web_policy):
    """The shared ``runtime``, on the default policy plus Ivy (overrides tests/conftest.py's)."""
    # A small body limit: the pages' evidence upload must get the evidence limit, as the API's does.
    settings = Settings(database_url=database_url, policy=web_policy, max_evidence_bytes=64 * 1024,
                        max_body_bytes=32 * 1024)
    rt = Runtime(settings, make_engine(database_url), load_policy(web_policy), clock)
    yield rt
    rt.close()


@pytest.fixture
def passwords_for(runtime):
    """``passwords_for("ines.itmgr", …)`` sets PASSWORD for those people, as the change manager would."""
    def set_(*people: str) -> None:
        with runtime.uow() as uow:
            for person in people:
                passwords.set_password(uow, runtime.context("chris.change"), person, PASSWORD)
    return set_


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) at a laptop's width."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
