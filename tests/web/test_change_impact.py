"""The change page shows the change's CMDB impact to its approvers: the computed impact with each item's path,
the requester's curation, the highest criticality and the risk floor (as GET /changes/{ref}/impact)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browsing import screenshot, sign_in
from changegate.schemas.changes import ChangeCreate
from changegate.schemas.cmdb import CurationIn
from changegate.services import changes, cmdb_files, cmdb_changes, dashboard
from test_accessibility import serious

ITEMS = b"name,type,criticality\ndb-x,database,high\napp-x,application,low\nscreen-x,mes_screen,low\n"
RELATIONS = b"source,target,type\napp-x,db-x,depends_on\nscreen-x,app-x,depends_on\n"


def change_on_db(runtime) -> str:
    with runtime.uow() as uow:  # filed before the CMDB was in use: ghost-x stays an unknown item
        ref = changes.create_change(uow, runtime.context("dana.dev"), ChangeCreate(
            title="Index the order table", category="data", release_level="minor", environment="prod",
            items=["db-x", "ghost-x"])).ref
    with runtime.uow() as uow:
        cmdb_files.import_files(uow, runtime.context("chris.change"), [("i.csv", ITEMS), ("r.csv", RELATIONS)])
    with runtime.uow() as uow:
        cmdb_changes.curate_impact(uow, runtime.context("dana.dev"), ref, CurationIn(
            item="screen-x", decision="excluded", reason="the screen reads a cache"))
    return ref


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_approver_sees_the_impact_with_its_paths_and_the_risk_floor(page, server, runtime, passwords_for):
    ref = change_on_db(runtime)
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    page.goto(f"{server}/changes/{ref}")
    section = page.get_by_role("region", name="Impact from the CMDB")
    expect(section).to_contain_text("Not in the CMDB: ghost-x.")
    expect(section).to_contain_text("2 items impacted, 1 after the requester's curation; the highest criticality "
                                    "reached is high")
    expect(section).to_contain_text("Risk floor: at least important; the change says standard — below the floor.")
    impacted = section.get_by_role("table", name="Impacted items, nearest first")
    expect(impacted.get_by_role("row", name=re.compile(r"^app-x "))).to_contain_text("app-x ← db-x")
    expect(impacted.get_by_role("row", name=re.compile(r"^screen-x "))).to_contain_text("screen-x ← app-x ← db-x")
    expect(impacted.get_by_role("row", name=re.compile(r"^screen-x "))).to_contain_text("excluded")
    curation = section.get_by_role("table", name="The requester's curation")
    expect(curation).to_contain_text("the screen reads a cache")
    expect(curation).to_contain_text("dana.dev")
    assert serious(page) == []
    screenshot(page, "change-impact")
    impacted.get_by_role("link", name="app-x").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("app-x")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_cmdb_the_page_shows_no_impact_section(runtime):
    from browsing import assessed_change

    ref = assessed_change(runtime)
    with runtime.uow(write=False) as uow:
        assert dashboard.change_page(uow, runtime.context("ines.itmgr"), ref).impact is None
