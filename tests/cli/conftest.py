"""The CLI test matrix (issue 13): the same commands through the local client and through ``--url``.

``invoke(person, *args)`` runs the CLI as ``person``: locally with ``--as`` on the test database, or remotely
with ``--url`` and that person's token against a live server on the same database. The remote leg runs on
SQLite and PostgreSQL through the ``server`` fixture; the local leg on both engines through ``database_url``.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.settings import DEFAULT_POLICY


class Invoke:
    def __init__(self, via: str, runner: CliRunner, server: str | None = None, tokens: dict | None = None):
        self.via, self.runner, self.server, self.tokens = via, runner, server, tokens

    @property
    def remote(self) -> bool:
        return self.via == "remote"

    def __call__(self, person: str | None, *args: str):
        """-> (exit code, stdout, stderr); person None runs without saying who (audit commands)."""
        if self.remote:
            who = ["--url", self.server] + (["--token", self.tokens[person or "audrey.audit"]])
        else:
            who = ["--as", person] if person else []
        result = self.runner.invoke(app, [*who, *args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=["local", "remote"])
def invoke(request, database_url, monkeypatch) -> Invoke:
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(DEFAULT_POLICY))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER"):
        monkeypatch.delenv(var, raising=False)
    if request.param == "local":
        return Invoke("local", CliRunner())
    # The server's runtime and the local leg open the same database (database_url).
    return Invoke("remote", CliRunner(), request.getfixturevalue("server"), request.getfixturevalue("tokens"))
