"""axe-core on every main page (no serious or critical violation), at laptop and tablet widths, with a
screenshot of each (tests/web/screenshots/, git-ignored) to look at."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from browsing import PLAN, assessed_change, authorized_change, dev_change, screenshot, sign_in
from changegate.schemas.changes import ChangeCreate
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.schemas.sqlcheck import SqlCheckIn
from changegate.services import changes, runs, sqlcheck

WIDTHS = {"laptop": {"width": 1366, "height": 900}, "tablet": {"width": 820, "height": 1180}}


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_main_pages_have_no_serious_accessibility_violation(browser, server, runtime, passwords_for, width):
    ref = assessed_change(runtime)
    with runtime.uow() as uow:  # an image among the evidence, shown on the change page
        changes.attach_evidence(uow, runtime.context("dana.dev"), ref, filename="screen.png", content=PNG,
                                media_type="image/png", kind="screenshot", description="The OEE screen",
                                max_bytes=10_000)
    assessed_change(runtime, title="Second change waiting")
    ready, deploy, draft = authorized_change(runtime, title="Waiting for a slot"), dev_change(runtime), new_draft(runtime)
    sqlcheck.check_and_attach(runtime.uow, runtime.context("dana.dev"), ref, SQL_CHECK, max_bytes=1_000_000)
    with runtime.uow() as uow:  # a queued run: its page reloads itself
        runs.create_run(uow, runtime.context("rene.release"), deploy, DeployIn(environment="dev", plan=PlanIn(text=PLAN)))
    passwords_for("ines.itmgr", "dana.dev", "audrey.audit", "chris.change", "rene.release")
    context = browser.new_context(viewport=WIDTHS[width])
    page = context.new_page()
    try:
        page.goto(f"{server}/sign-in")
        assert serious(page) == []
        screenshot(page, f"sign-in-{width}")
        pages = {"ines.itmgr": {"dashboard": "/", "approvals": "/approvals", "changes": "/changes",
                                "change": f"/changes/{ref}", "not-found": "/changes/CHG-999",
                                "calendar-month": "/calendar?view=month"},
                 "dana.dev": {"change-as-requester": f"/changes/{ref}", "new-change": "/changes/new",
                              "edit-draft": f"/changes/{draft}/edit"},
                 "chris.change": {"calendar-slots": f"/calendar?change={ready}", "change-to-assess": f"/changes/{ref}",
                                  "sessions": "/sessions",
                                  "calendar-holidays": "/calendar?start=2026-12-21"},
                 "rene.release": {"run": f"/changes/{deploy}/run", "change-with-run": f"/changes/{deploy}"},
                 "audrey.audit": {"audit-verified": "/audit?verify=true"}}
        for person, paths in pages.items():
            check_pages(page, server, person, paths, width)
    finally:
        context.close()


SQL_CHECK = SqlCheckIn(engine="sqlite", schema_sql={"name": "schema.sql", "text": "CREATE TABLE t (id INTEGER);"},
                       deploy={"name": "deploy.sql", "text": "ALTER TABLE t ADD COLUMN a TEXT DEFAULT 'x';"},
                       rollback={"name": "rollback.sql", "text": "ALTER TABLE t DROP COLUMN a;"})


def new_draft(rt) -> str:
    with rt.uow() as uow:
        return changes.create_change(uow, rt.context("dana.dev"), ChangeCreate(
            title="A draft to edit", category="application", release_level="patch", environment="prod")).ref


def check_pages(page, server: str, person: str, paths: dict[str, str], width: str) -> None:
    if page.get_by_role("button", name="Sign out").count():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, server, person)
    for name, path in paths.items():
        page.goto(server + path)
        expect(page.get_by_role("contentinfo")).to_contain_text(f"Signed in as {person}")
        assert serious(page) == [], name
        screenshot(page, f"{name}-{width}")


# An 8×8 PNG (a small grey square), made once with zlib: a real image for the evidence preview.
def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG = _png()
