"""A planned start typed on the change page is read on the clock its label names: the environment's."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import yaml

from browsing import PASSWORD, dev_change, sign_in
from changegate.db.engine import make_engine
from changegate.services import passwords
from changegate.services.lookup import load
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import Settings


@pytest.fixture
def runtime(database_url, clock, web_policy, tmp_path):
    """The pages' policy with a sandbox in New York while the plant is in Berlin."""
    data = yaml.safe_load(web_policy.read_text(encoding="utf-8"))
    data["schedule"]["environments"]["dev"]["timezone"] = "America/New_York"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    rt = Runtime(Settings(database_url=database_url, policy=path), make_engine(database_url), load_policy(path), clock)
    yield rt
    rt.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reschedule_reads_the_start_in_the_environments_zone(page, server, runtime):
    ref = dev_change(runtime)  # scheduled, in dev
    with runtime.uow() as uow:
        passwords.set_password(uow, runtime.context("chris.change"), "chris.change", PASSWORD)
    sign_in(page, server, "chris.change")
    page.goto(f"{server}/changes/{ref}")
    page.get_by_label("Planned start (America/New_York)").fill("2026-12-03T09:00")
    page.get_by_role("button", name="Reschedule").click()
    page.get_by_text(f"{ref}: reschedule done").wait_for()
    with runtime.uow(write=False) as uow:
        # 09:00 in New York is 14:00 UTC (read in Berlin, as before, it was 08:00 UTC)
        assert load(uow, ref).planned_start == datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)
