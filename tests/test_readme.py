"""The README's CLI sessions, replayed command by command: every output line it shows must appear,
in order, in what the command really prints (the README trims output, so extra lines are fine)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.settings import DEFAULT_POLICY

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = README.parent / "docs" / "examples" / "session"
FILES = {  # the files the sessions attach: shipped in docs/examples/session/, as the README says
    name: (EXAMPLES / name).read_text(encoding="utf-8") for name in ("uat.log", "rollback.sql", "rollback-rehearsal.log")
}
EXIT_ECHO = '; echo "exit $?"'


def sessions() -> list[str]:
    """The console blocks that drive the changegate CLI on the local database."""
    blocks = re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [b for b in blocks if "$ changegate " in b and "sql check" not in b and "curl" not in b]


def steps(block: str) -> list[tuple[str, list[str]]]:
    lines, out, i = block.splitlines(), [], 0
    while i < len(lines):
        command = lines[i][2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i].rstrip())
            i += 1
        out.append((command, shown))
    return out


def in_order(shown: list[str], actual: list[str]) -> list[str]:
    """The shown lines not found, in order, among the actual ones."""
    rest = iter(actual)
    return [line for line in shown if line.strip() != "…" and not any(line == a for a in rest)]


def test_the_readme_has_both_sessions():
    blocks = sessions()
    assert len(blocks) == 2 and blocks[0].startswith("$ changegate db upgrade")
    assert "$ changegate --as ci-pipeline gate CHG-1" in blocks[1]


def test_the_readme_sessions_print_what_the_readme_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'readme.db'}")
    monkeypatch.setenv("CHANGEGATE_POLICY", str(DEFAULT_POLICY))
    for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER"):
        monkeypatch.delenv(var, raising=False)
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    runner = CliRunner()
    replayed = 0
    for block in sessions():
        for command, shown in steps(block):
            expect_exit = None
            if command.endswith(EXIT_ECHO):
                command = command[: -len(EXIT_ECHO)]
                expect_exit = int(shown.pop().removeprefix("exit "))
            args = shlex.split(command, comments=True)
            assert args[0] == "changegate", command
            result = runner.invoke(app, args[1:], catch_exceptions=False)
            actual = [line.rstrip() for line in (result.stdout + result.stderr).splitlines()]
            missing = in_order(shown, actual)
            assert not missing, f"$ {command}\nREADME shows lines that it does not print:\n" + "\n".join(
                missing) + "\n--- it printed:\n" + "\n".join(actual)
            if expect_exit is not None:
                assert result.exit_code == expect_exit, command
            replayed += 1
    assert replayed >= 15  # both sessions were parsed, not just a few lines
