"""The CMDB's pages: search and list the items, an item with its relations and the impact of changing it,
with each impacted item's path; sign-in required; no serious accessibility violation (axe-core)."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from browsing import screenshot, sign_in
from changegate.services import cmdb_files

ITEMS = """name,type,criticality,owner,environment,description,attr.vendor
db-mes-prod,database,critical,dba,prod,MES production database,postgres
mes-core,application,high,mes-team,prod,,
mes-screen-packing,mes_screen,medium,mes-team,prod,packing screen,
line-3,production_line,critical,plant-ops,prod,,
mes-service,service,high,mes-team,prod,,
vm/mes 1,virtual_machine,low,infra,prod,a name with a slash and a space,
"""
RELATIONS = """source,target,type
mes-core,db-mes-prod,depends_on
mes-screen-packing,mes-core,depends_on
mes-screen-packing,line-3,part_of
mes-service,mes-core,depends_on
db-mes-prod,vm/mes 1,runs_on
"""


@pytest.fixture
def plant(runtime):
    with runtime.uow() as uow:
        cmdb_files.import_files(uow, runtime.context("chris.change"),
                                [("items.csv", ITEMS.encode()), ("relations.csv", RELATIONS.encode())])
    return runtime


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_person_finds_an_item_and_sees_what_changing_it_impacts_with_the_paths(page, server, plant,
                                                                                  passwords_for):
    passwords_for("dana.dev")
    page.goto(f"{server}/cmdb")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")  # signed-in people only
    sign_in(page, server, "dana.dev")
    page.goto(f"{server}/")
    page.get_by_role("link", name="CMDB").click()
    expect(page.get_by_role("table")).to_contain_text("6 items")
    page.get_by_label("Text").fill("mes")
    page.get_by_label("Type").select_option("application")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(2)  # the header and mes-core
    screenshot(page, "cmdb-search")
    page.get_by_role("link", name="mes-core").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("mes-core")
    relations = page.get_by_role("table", name="3 relations")
    expect(relations).to_contain_text("mes-core depends on db-mes-prod")
    impact = page.get_by_role("table", name="Impacted items, nearest first")
    expect(impact.get_by_role("row", name="line-3")).to_contain_text("line-3 ← mes-screen-packing ← mes-core")
    expect(page.get_by_text("the highest criticality reached is")).to_contain_text(
        "critical (line-3 ← mes-screen-packing ← mes-core)")
    expect(page.get_by_text("Services:")).to_have_text("Services: mes-service.")
    screenshot(page, "cmdb-item")
    relations.get_by_role("link", name="db-mes-prod").click()
    page.get_by_role("link", name="vm/mes 1").click()  # a name with a slash and a space
    expect(page.get_by_role("heading", level=1)).to_have_text("vm/mes 1")
    expect(page.get_by_role("table", name="Impacted items, nearest first")).to_contain_text(
        "mes-core ← db-mes-prod ← vm/mes 1")
    page.goto(f"{server}/cmdb/items/mes-cor")
    expect(page.get_by_role("alert")).to_contain_text("no configuration item 'mes-cor'")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cmdb_pages_have_no_serious_accessibility_violation(page, server, plant, passwords_for):
    passwords_for("dana.dev")
    sign_in(page, server, "dana.dev")
    for width in (1366, 820):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/cmdb", "/cmdb?q=nothing-at-all", "/cmdb/items/mes-core", "/cmdb/items/line-3"):
            page.goto(server + path)
            expect(page.get_by_role("contentinfo")).to_contain_text("Signed in as dana.dev")
            violations = [f"{v['id']} ({v['impact']}): {v['help']}" for v in Axe().run(page).response["violations"]
                          if v["impact"] in ("serious", "critical")]
            assert violations == [], (path, width)
