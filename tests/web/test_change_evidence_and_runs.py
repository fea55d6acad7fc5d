"""The change page's evidence previews (SQL highlighted, read in one statement), the full SQL check report,
and the deployment runs with their log (reloading itself while a run is active)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import event

from browsing import PLAN, assessed_change, dev_change, screenshot, sign_in
from changegate.db.models import DeploymentRun
from changegate.schemas.runs import DeployIn, PlanIn
from changegate.schemas.sqlcheck import SqlCheckIn
from changegate.services import changes, dashboard, runs, runs_worker, sqlcheck, web_changes
from changegate.services.lookup import parse_ref

DEPLOY_SQL = b"-- add the label printer's column\nALTER TABLE labels ADD COLUMN printer TEXT DEFAULT 'zebra';\n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sql_is_highlighted_and_the_whole_sql_check_report_shown(page, server, runtime, passwords_for):
    ref = assessed_change(runtime)
    rene = runtime.context("rene.release")
    request = SqlCheckIn(engine="sqlite",
                         schema_sql={"name": "schema.sql", "text": "CREATE TABLE labels (id INTEGER PRIMARY KEY);"},
                         deploy={"name": "deploy.sql", "text": DEPLOY_SQL.decode()},
                         rollback={"name": "rollback.sql", "text": "ALTER TABLE labels DROP COLUMN printer;"})
    sqlcheck.check_and_attach(runtime.uow, rene, ref, request, max_bytes=1_000_000)
    passwords_for("ines.itmgr")
    sign_in(page, server, "ines.itmgr")
    page.goto(f"{server}/changes/{ref}")

    deploy = page.get_by_label("Content of deploy.sql")
    expect(deploy.locator(".tok-k").first).to_have_text("ALTER")
    expect(deploy.locator(".tok-c1")).to_have_text("-- add the label printer's column")
    expect(deploy.locator(".tok-s1")).to_have_text("'zebra'")
    report = page.locator("details.sql-report")
    expect(report).to_contain_text("The full SQL check report (sqlite")
    properties = page.get_by_role("table", name="Properties the check proves")
    expect(properties.get_by_role("row", name=re.compile("^idempotent"))).to_contain_text("fail")
    expect(properties).to_contain_text("deploy.sql failed on its second run")
    findings = page.get_by_role("table", name="Findings of the static analysis")
    expect(findings).to_contain_text("deploy.sql:2:")
    expect(findings.locator("code.sql .tok-k").first).to_be_visible()
    expect(page.get_by_role("table", name="Runs on the scratch database")).to_contain_text("rollback.sql (rollback)")
    screenshot(page, "change-sql-check")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_deployment_run_with_its_steps_and_log(page, server, runtime, passwords_for):
    ref = dev_change(runtime)
    worker = runs_worker.worker_id()
    with runtime.uow() as uow:
        run = runs.create_run(uow, runtime.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text=PLAN)), worker=worker)
    passwords_for("rene.release")
    sign_in(page, server, "rene.release")

    # Queued, not yet driven: the run page says so, with a refresh link; asked to follow the run, it reloads
    # itself (no script on these pages).
    page.goto(f"{server}/changes/{ref}")
    runs_table = page.get_by_role("table", name=f"Every run of {ref}, newest first")
    expect(runs_table).to_contain_text("queued")
    page.get_by_role("link", name=f"Steps and log of run {run.id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{ref}: deployment run {run.id} queued")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    page.get_by_role("link", name=re.compile("^Follow it")).click()
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_attribute("content", "5")
    expect(page.get_by_role("status")).to_contain_text("this page reloads every 5 seconds")

    # Driven to its end: steps, log and outcome; no more reloading, even when following.
    assert runs.drive(runtime, run.id, worker) == "committed"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("committed")
    expect(page.get_by_role("table", name="Steps, in the order they ran")).to_contain_text("say hello")
    expect(page.get_by_label("Log", exact=True)).to_contain_text("hello from the release")
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    screenshot(page, "run")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_previews_are_read_in_one_statement_whatever_the_number_of_files(runtime):
    """Measured: before, the change page read one blob per previewed file (11 statements here) and showed
    nothing of a log over 64 KiB."""
    ref = assessed_change(runtime)
    for n in range(20):  # ten short logs, ten of 80,000 bytes
        with runtime.uow() as uow:
            changes.attach_evidence(uow, runtime.context("dana.dev"), ref, filename=f"run-{n}.log",
                                    content=f"line {n}\n".encode() * (10 if n < 10 else 10_000),
                                    media_type="text/plain", max_bytes=200_000)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().startswith("SELECT evidence_blobs."):  # the gate's own read starts otherwise
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        with runtime.uow(write=False) as uow:
            view = dashboard.change_page(uow, runtime.context("ines.itmgr"), ref)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    assert len(seen) == 1, seen
    assert len(view.previews) == 21
    # Each 80,000-byte log is previewed by its first 64 KiB only.
    assert sorted(len(text) for text in view.previews.values())[-10:] == [dashboard.PREVIEW_BYTES] * 10


def test_the_change_page_lists_runs_as_the_run_repository_reads_them(runtime):
    """The change page reads a change's runs as plain records (web_reads.runs_for), not through the ORM:
    the same RunOut, field by field, on both engines (timestamps, flags and the notes' JSON restored)."""
    ref = dev_change(runtime)
    worker = runs_worker.worker_id()
    with runtime.uow() as uow:
        run = runs.create_run(uow, runtime.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text=PLAN)), worker=worker)
    assert runs.drive(runtime, run.id, worker) == "committed"
    with runtime.uow(write=False) as uow:
        change = uow.changes.get(parse_ref(ref))
        loaded: list = []
        watch = lambda target, context: loaded.append(target)  # noqa: E731
        event.listen(DeploymentRun, "load", watch)
        try:
            plain = web_changes.runs_of(uow, change)
        finally:
            event.remove(DeploymentRun, "load", watch)
        assert loaded == []  # no ORM object loaded
        orm = [runs.run_out(r) for r in reversed(uow.runs.for_change(change.id))]
    assert plain == orm and plain[0].state == "committed" and plain[0].ended_at is not None
