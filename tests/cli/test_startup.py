"""The CLI's import boundary (issue 13): ``--version``, ``--help`` and the remote client (``--url``) start
without the database layer, the SQL check's parser or the web framework; the local path without Alembic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typing import Annotated, Optional

import pytest
import typer

from changegate.settings import DEFAULT_POLICY

HEAVY = ("sqlalchemy", "alembic", "sqlglot", "fastapi", "uvicorn")
# Runs the CLI in a fresh interpreter, then prints the top-level packages it imported (atexit: after typer's
# SystemExit, whatever the command's exit status).
PROBE = """
import atexit, json, sys
atexit.register(lambda: print("\\nMODULES " + json.dumps(sorted({m.split('.')[0] for m in sys.modules}))))
sys.argv = ["changegate", *sys.argv[1:]]
from changegate.cli.main import app
app()
"""


def imported(*args: str, env: dict | None = None, submodules: bool = False) -> tuple[int, set[str], str]:
    """The exit code, the packages imported (with ``submodules``: every module), and stderr."""
    probe = PROBE.replace("m.split('.')[0] for m in", "m for m in") if submodules else PROBE
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    line = next(line for line in proc.stdout.splitlines() if line.startswith("MODULES "))
    return proc.returncode, set(json.loads(line.removeprefix("MODULES "))), proc.stderr


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["change", "--help"], ["gate", "--help"]])
def test_version_and_help_import_no_database_layer(args):
    code, modules, _ = imported(*args)
    assert code == 0
    assert not modules & set(HEAVY), f"changegate {' '.join(args)} imported {sorted(modules & set(HEAVY))}"
    assert "httpx" not in modules
    assert not modules & {"pydantic", "mimetypes"}  # option conversion; the evidence upload's media types


def test_remote_client_imports_no_database_layer(server, tokens):
    code, modules, stderr = imported("--url", server, "--token", tokens["rene.release"], "gate", "CHG-999",
                                     "--env", "prod")
    assert code == 2 and "CHG-999" in stderr  # a real answer from the server: the change does not exist
    assert "httpx" in modules
    assert not modules & set(HEAVY), f"the remote client imported {sorted(modules & set(HEAVY))}"
    # Typer converts option values through pydantic; plain strings and flags skip it (cli/params.py).
    assert "pydantic" not in modules


def test_a_command_imports_its_own_module_only(server, tokens):
    """The command modules are imported when the line names them (cli/main.py: _LAZY)."""
    code, modules, stderr = imported("--url", server, "--token", tokens["rene.release"], "gate", "CHG-999",
                                     "--env", "prod", submodules=True)
    assert code == 2, stderr
    loaded = {m.removeprefix("changegate.cli.") for m in modules if m.startswith("changegate.cli.")}
    assert loaded <= {"main", "gate", "change", "output", "params", "state", "remote"}, loaded


def test_every_command_is_listed_in_order_and_found_when_named():
    from typer.testing import CliRunner

    from changegate.cli.main import _LAZY, _ORDER, app

    lines = CliRunner().invoke(app, ["--help"]).stdout.split("Commands:")[1].splitlines()
    assert [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")] == list(_ORDER)
    for name in _LAZY:
        shown = CliRunner().invoke(app, [name, "--help"])
        assert shown.exit_code == 0 and "Usage: " in shown.stdout, (name, shown.stdout)
    typo = CliRunner().invoke(app, ["chnage"])
    assert typo.exit_code == 2 and "Did you mean 'change'?" in typo.stderr
    impact = CliRunner().invoke(app, ["change", "impact", "--help"])  # registered from cli/cmdb.py
    assert impact.exit_code == 0


def test_plain_values_skip_pydantic_and_the_rest_keep_typers_conversion():
    from typer.testing import CliRunner

    from changegate.cli.main import app
    from changegate.cli.params import light_values

    probe = typer.Typer(cls=type(typer.main.get_command(app)))
    seen = {}

    @probe.command()
    def run(name: str, item: Annotated[Optional[list[str]], typer.Option("--item")] = None, flag: bool = False,
            count: Annotated[int, typer.Option(min=1, max=3)] = 1) -> None:
        seen.update(name=name, item=item, flag=flag, count=count)

    @probe.command()
    def other() -> None:
        pass

    ok = CliRunner().invoke(probe, ["run", "CHG-1", "--item", "a", "--item", "b", "--flag", "--count", "2"])
    assert ok.exit_code == 0, ok.output
    assert seen == {"name": "CHG-1", "item": ["a", "b"], "flag": True, "count": 2}
    bad = CliRunner().invoke(probe, ["run", "x", "--count", "7"])  # an int with bounds: Typer's own check
    assert bad.exit_code == 2 and "--count" in bad.output
    command = light_values(typer.main.get_command(probe))
    kinds = {p.name: type(p._runtime_param).__name__ for p in command.commands["run"].params}
    assert kinds == {"name": "_Identity", "item": "_Identity", "flag": "_Identity", "count": "NoneType"}


def test_local_command_imports_no_alembic_nor_sqlglot(runtime, tmp_path):
    env = {"CHANGEGATE_DATABASE_URL": str(runtime.engine.url.render_as_string(hide_password=False)),
           "CHANGEGATE_POLICY": str(DEFAULT_POLICY), "CHANGEGATE_CACHE_DIR": str(tmp_path / "cache")}
    code, modules, stderr = imported("--as", "dana.dev", "schedule", "next-slot", "--env", "prod",
                                     "--duration", "1h", env=env)
    assert code in (0, 1), stderr
    assert "sqlalchemy" in modules
    assert not modules & {"alembic", "sqlglot", "fastapi", "uvicorn", "httpx"}


@pytest.mark.parametrize("args", [["next-slot", "--env", "prod", "--duration", "1h"],
                                  ["explain", "--env", "prod", "--at", "2026-12-08T09:00:00+01:00", "--duration", "30"]])
def test_local_schedule_reads_import_no_orm(runtime, tmp_path, args):
    """next-slot (its full path: here the policy cache is cold) and explain read through SQLAlchemy Core
    (db/reads.py): no ORM, models or repositories."""
    env = {"CHANGEGATE_DATABASE_URL": str(runtime.engine.url.render_as_string(hide_password=False)),
           "CHANGEGATE_POLICY": str(DEFAULT_POLICY), "CHANGEGATE_CACHE_DIR": str(tmp_path / "cache")}
    code, modules, stderr = imported("--as", "dana.dev", "schedule", *args, env=env, submodules=True)
    assert code in (0, 1), stderr
    assert "changegate.db.reads" in modules
    assert not {m for m in modules if m.startswith("sqlalchemy.orm") or m in (
        "changegate.db.models", "changegate.db.uow", "changegate.db.repositories")}


def test_local_next_slot_imports_no_sqlalchemy_nor_pydantic(runtime, tmp_path):
    """With the policy validated once (its plain entry written), a local next-slot on SQLite reads the entry
    and the file through the bare driver (services/schedule_quick.py), and answers as the full path did."""
    env = {"CHANGEGATE_DATABASE_URL": str(runtime.engine.url.render_as_string(hide_password=False)),
           "CHANGEGATE_POLICY": str(DEFAULT_POLICY), "CHANGEGATE_CACHE_DIR": str(tmp_path / "cache")}
    args = ("--as", "dana.dev", "schedule", "next-slot", "--env", "prod", "--duration", "1h",
            "--after", "2026-12-04T10:00:00+01:00", "--json")
    full = subprocess.run([sys.executable, "-m", "changegate.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})  # the full path: validates, writes the entry
    code, modules, stderr = imported(*args, env=env)
    assert code == full.returncode == 0, stderr + full.stderr
    if runtime.engine.dialect.name == "sqlite":
        assert not modules & {"sqlalchemy", "pydantic", "pydantic_core", "holidays", "yaml", "ruamel", "alembic"}
        printed, plain_modules, _ = imported(*args[:-1], env=env)  # without --json: lines to a pipe
        assert printed == 0 and "rich" not in plain_modules  # written as Rich would (cli/output.py: plain_markup)
    else:  # PostgreSQL: the full path, through SQLAlchemy Core (db/reads.py)
        assert "sqlalchemy" in modules
    quick = subprocess.run([sys.executable, "-m", "changegate.cli.main", *args], capture_output=True, text=True,
                           timeout=120, env={**os.environ, **env})
    assert json.loads(quick.stdout) == json.loads(full.stdout)


def test_schema_head_read_from_the_files_is_alembics():
    from alembic.script import ScriptDirectory

    from changegate.db.migrate import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_policy_cache_reuses_the_validated_policy_and_follows_the_content(tmp_path):
    from changegate.core.errors import PolicyError
    from changegate.services.policy import load_policy

    cache = tmp_path / "cache"
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(DEFAULT_POLICY.read_bytes())
    first = load_policy(policy_file, cache_dir=cache)
    assert len(list(cache.glob("policy-*.pickle"))) == 1
    assert load_policy(policy_file, cache_dir=cache) == first == load_policy(policy_file)
    policy_file.write_text(DEFAULT_POLICY.read_text().replace("Dana Developer", "Dana Devops"))
    assert load_policy(policy_file, cache_dir=cache).person("dana.dev").name == "Dana Devops"
    policy_file.write_text("people: 3\n")
    with pytest.raises(PolicyError):  # an invalid file is never served from, nor written to, the cache
        load_policy(policy_file, cache_dir=cache)
    assert len(list(cache.glob("policy-*.pickle"))) == 2
