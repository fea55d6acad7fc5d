"""Errors a person or a pipeline can act on (issue 12): a database that cannot be opened is one sentence and
exit 2, for every command that opens it; ``db upgrade`` and ``demo load`` say what they did."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.settings import DEFAULT_POLICY

BAD_DATABASES = {
    "unreachable postgresql": ("postgresql+psycopg://nobody@127.0.0.1:1/changegate", "cannot open the database"),
    "unknown scheme": ("mysqlx://db.plant.example/changegate", "unknown database URL scheme 'mysqlx'"),
    "missing sqlite folder": ("sqlite:///{tmp}/no-such-folder/changegate.db", "no-such-folder"),
    "not a url": ("changegate.db", "is not a URL"),
}
COMMANDS = [["--as", "dana.dev", "change", "list"], ["db", "upgrade"], ["demo", "load"],
            ["serve", "--port", "1"], ["--as", "dana.dev", "schedule", "next-slot", "--env", "prod",
                                       "--duration", "1h"], ["audit", "verify"]]


def run(monkeypatch, url: str, *args: str):
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(DEFAULT_POLICY))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}")
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", sorted(BAD_DATABASES))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(a for a in c if not a.startswith("-"))[:20])
def test_a_database_that_cannot_be_opened_is_one_sentence_and_exit_2(monkeypatch, tmp_path, case, command):
    url, expected = BAD_DATABASES[case]
    code, out, err = run(monkeypatch, url.format(tmp=tmp_path), *command)
    assert code == 2, (out, err)
    assert expected in err and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no-such-folder").exists()  # a folder in a written URL is never created


def test_db_upgrade_and_demo_load_say_what_they_did(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    code, out, _ = run(monkeypatch, url, "db", "upgrade")
    assert code == 0 and "created the schema at revision" in out and "tables)" in out
    code, out, _ = run(monkeypatch, url, "db", "upgrade")
    assert code == 0 and "already up to date at revision" in out
    code, out, _ = run(monkeypatch, url, "demo", "load", "--json")
    loaded = json.loads(out)["changes"]
    assert code == 0 and loaded
    code, out, err = run(monkeypatch, url, "demo", "load")
    assert code == 0, err
    assert f"already holds {len(loaded)} changes" in out and "nothing to do" in out
    code, out, _ = run(monkeypatch, url, "demo", "load", "--json")
    assert code == 0 and json.loads(out)["already_loaded"] is True


def test_a_bare_date_means_plant_midnight_locally_and_is_refused_remotely(monkeypatch, tmp_path, server, tokens):
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    assert run(monkeypatch, url, "db", "upgrade")[0] == 0
    code, out, err = run(monkeypatch, url, "--as", "dana.dev", "schedule", "next-slot", "--env", "prod",
                         "--duration", "1h", "--after", "2026-12-01", "--json")
    slot = json.loads(out)
    # The JSON gives the slot on the plant's wall clock too.
    assert code == 0, err
    assert slot["local_start"].startswith("2026-12-01T09:00:00+01:00") and slot["timezone"] == "Europe/Berlin"
    code, out, err = run(monkeypatch, url, "--as", "dana.dev", "schedule", "explain", "--env", "prod",
                         "--at", "2026-12-01", "--duration", "30m", "--json")
    assert json.loads(out)["start"] == "2026-11-30T23:00:00Z"  # plant midnight, not UTC midnight
    code, out, err = run(monkeypatch, url, "--url", server, "--token", tokens["dana.dev"], "schedule", "next-slot",
                         "--env", "prod", "--duration", "1h", "--after", "2026-12-01")
    assert code == 2 and "--after 2026-12-01" in err and "offset" in err
