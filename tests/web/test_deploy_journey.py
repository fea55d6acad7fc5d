"""Deploying and rolling back from the change page, through the same use cases as the API, and the run page's
live log (static/follow.js), which follows the run without reloading the page."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from browsing import dev_change, screenshot, sign_in
from changegate.services import runs, runs_worker
from test_accessibility import serious
from test_refusals import forge

# A step, then a manual step that waits for the system administrator: the run rests in "waiting" meanwhile.
PLAN = """steps:
  - name: say hello
    run: [sh, -c, "echo hello from the release"]
  - name: stop the line
    manual: The system administrator stops the label printers on line 3.
    role: system_administrator
    timeout: 2m
timing:
  check_after: 0s
"""


def drive_in_background(runtime, ref: str) -> tuple[threading.Thread, dict]:
    """A worker (this test's thread) claims the run the page queued and drives it."""
    with runtime.uow(write=False) as uow:
        run_id = runs.show_run(uow, runtime.context("rene.release"), ref, with_steps=False).id
    worker, result = runs_worker.worker_id(), {}
    assert runs_worker.claim(runtime, worker, run_id) == run_id
    thread = threading.Thread(target=lambda: result.update(state=runs.drive(runtime, run_id, worker)), daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deploy_and_roll_back_from_the_change_page_with_the_live_log(page, server, runtime, passwords_for):
    ref = dev_change(runtime)  # scheduled in dev, no plan attached
    passwords_for("rene.release")
    sign_in(page, server, "rene.release")
    page.goto(f"{server}/changes/{ref}")
    deploy = page.get_by_role("group", name="Deploy to dev")
    expect(deploy).to_contain_text("The Final Checkout gate is asked first")
    assert serious(page) == []
    screenshot(page, "change-deploy")
    deploy.get_by_label(re.compile("^Deployment plan")).fill(PLAN)
    deploy.get_by_role("button", name="Deploy").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{ref}: deployment run 1 queued")
    expect(page.locator("main .flash")).to_contain_text("deployment run 1 queued")
    expect(page.get_by_role("status").filter(has_text="Live")).to_contain_text("the log updates every 2 seconds")
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    thread, result = drive_in_background(runtime, ref)
    log = page.get_by_label("Log", exact=True)
    expect(log).to_contain_text("hello from the release", timeout=30_000)
    expect(log).to_contain_text("stop the line (attempt 1): waiting", timeout=30_000)
    expect(page.locator("#run-state")).to_have_text("deploying")  # the manual step waits within it
    assert page.evaluate("window.notReloaded") is True
    assert serious(page) == []
    screenshot(page, "run-live")

    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("group", name="Deploy to dev")).to_have_count(0)  # a run is under way
    page.get_by_label(re.compile("^Why roll run 1 back now")).fill("the line cannot stop today")
    page.get_by_role("button", name="Roll back the run").click()
    expect(page.locator("main .flash")).to_contain_text("run 1 is rolling back")
    page.evaluate("window.notReloaded = true")
    thread.join(60)
    assert result["state"] == "rolled_back"
    expect(page.locator("#run-state")).to_have_text("rolled back", timeout=30_000)
    expect(page.get_by_label("Log", exact=True)).to_contain_text("rolled back on rene.release's decision: "
                                                                  "the line cannot stop today")
    expect(page.get_by_role("status").filter(has_text="stopped")).to_contain_text("The run is rolled back")
    expect(page.get_by_role("table", name="Steps, in the order they ran")).to_contain_text("say hello")
    assert page.evaluate("window.notReloaded") is True
    with runtime.uow(write=False) as uow:
        actions = [e.action for e in uow.audit.for_entity(f"change:{ref.removeprefix('CHG-')}")]
    assert "run.created" in actions and "run.rollback_requested" in actions


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deploying_is_offered_only_to_those_allowed_and_refused_when_forged(page, server, runtime, passwords_for):
    ref = dev_change(runtime)
    passwords_for("audrey.audit")
    sign_in(page, server, "audrey.audit")  # reads everything, deploys nothing
    page.goto(f"{server}/changes/{ref}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(ref)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.input_value()
    forge(page, f"/changes/{ref}/deploy", {"csrf": csrf, "environment": "dev", "plan": PLAN})
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    with runtime.uow(write=False) as uow:
        assert uow.runs.for_change(int(ref.removeprefix("CHG-"))) == []
        actions = [e.action for e in uow.audit.for_entity(f"change:{ref.removeprefix('CHG-')}")]
    assert actions[-1] == "change.implement.refused"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_plan_the_boundary_refuses_is_a_page_naming_it_not_a_server_error(page, server, runtime, passwords_for):
    """A plan with a control character (refused by the plan text's boundary rule) is reported on a page;
    nothing is queued."""
    ref = dev_change(runtime)
    passwords_for("rene.release")
    sign_in(page, server, "rene.release")
    page.goto(f"{server}/changes/{ref}")
    csrf = page.locator("input[name=csrf]").first.input_value()
    forge(page, f"/changes/{ref}/deploy", {"csrf": csrf, "environment": "dev", "plan": PLAN + "# a bell \x07 here\n"})
    expect(page.get_by_role("heading", name="Something in the form needs fixing")).to_be_visible()
    expect(page.get_by_text("text:", exact=False).first).to_be_visible()
    with runtime.uow(write=False) as uow:
        assert uow.runs.for_change(int(ref.removeprefix("CHG-"))) == []
