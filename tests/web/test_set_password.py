"""``changegate user set-password``: prompted, or a one-time link opened in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from typer.testing import CliRunner

from browsing import screenshot, sign_in
from changegate.cli.main import app
from changegate.services import passwords


@pytest.fixture
def cli(runtime, web_policy, monkeypatch):
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(web_policy))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER", "CHANGEGATE_WEB_URL"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, input: str | None = None):
        result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_set_password_prompts_twice_and_checks_who_may(cli, runtime):
    code, out, err = cli("--as", "chris.change", "user", "set-password", "ines.itmgr",
                         input="a long enough password\na long enough password\n")
    assert code == 0, err
    assert "password set for ines.itmgr; their other web sessions have ended" in out
    with runtime.uow() as uow:
        assert passwords.sign_in(uow, runtime.policy, "ines.itmgr", "a long enough password",
                                 runtime.clock()).person is not None
    code, _out, err = cli("--as", "omar.ops", "user", "set-password", "ines.itmgr",
                          input="a long enough password\na long enough password\n")
    assert code == 1 and "token.manage" in err
    code, _out, err = cli("--as", "chris.change", "user", "set-password", "ines.itmgr", input="short\nshort\n")
    assert code == 2 and "the password is shorter than 12 characters" in err
    code, _out, err = cli("user", "set-password", "ines.itmgr", "--link")
    assert code == 2 and "say who you are" in err


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_one_time_link_from_the_cli_sets_the_password_in_the_browser(cli, page, server):
    code, out, err = cli("--as", "chris.change", "user", "set-password", "omar.ops", "--link",
                         "--base-url", server, "--valid-minutes", "30")
    assert code == 0, err
    assert "one-time link for omar.ops, valid for 30 minutes:" in out
    link = re.search(r"(http://\S+/set-password/\S+)", out).group(1)

    page.goto(link)
    expect(page.get_by_text("For Omar Operations (omar.ops)")).to_be_visible()
    page.get_by_label("New password").fill("omar's own new password")
    page.get_by_label("The same again").fill("omar's own typo password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_have_text("the two passwords differ")
    screenshot(page, "set-password")
    page.get_by_label("New password").fill("omar's own new password")
    page.get_by_label("The same again").fill("omar's own new password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("password set for omar.ops: sign in with it")

    page.goto(link)  # spent
    expect(page.get_by_role("alert")).to_contain_text("unknown or was used already")
    sign_in(page, server, "omar.ops", "omar's own new password")
    expect(page.get_by_role("heading", name="What needs you, Omar Operations")).to_be_visible()
