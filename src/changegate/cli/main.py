"""The ``changegate`` command."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from ..core.errors import ChangegateError
from .output import emit_json, fail
from .params import light_values
from .state import state


class _Root(TyperGroup):
    """The root command: the plain option values of the commands that run are converted without pydantic
    (``cli/params.py``), whether run as ``changegate`` or by Typer's test runner. The root's own options just
    before it parses them (not in ``__init__``: Typer appends the shell-completion options after building the
    group), then the command the line names, with its subcommands. The command modules are imported when
    the line names them (``_LAZY``), and listed in Typer's own order."""

    def parse_args(self, ctx, args):
        light_values(self, ctx, recursive=False)
        return super().parse_args(ctx, args)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None and self.name == app.info.name and cmd_name in _LAZY:
            command = self.commands[cmd_name] = _lazy_command(cmd_name)
        return command

    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        if self.name != app.info.name:
            return names
        return [n for n in _ORDER if n in names or n in _LAZY] + [n for n in names if n not in _ORDER]

    def resolve_command(self, ctx, args):
        if self.name == app.info.name and args and args[0] not in self.commands and args[0] not in _LAZY:
            for lazy in _LAZY:  # not a command: Typer suggests the closest among all of them
                self.get_command(ctx, lazy)
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            light_values(command, typer.Context(command, parent=ctx))
        return name, command, rest


app = typer.Typer(
    cls=_Root,
    name="changegate",
    help="Change & release management: request, assess, approve, schedule, gate and audit changes to production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: Typer's Rich help imports Rich and markdown-it (~150 ms), which put
    # ``--help`` at 2.5 x a bare ``import typer`` (issue 13's goal: 2 x).
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"changegate {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    url: Annotated[Optional[str], typer.Option("--url", envvar="CHANGEGATE_URL",
                                               help="Talk to this changegate server instead of the local database.")] = None,
    token: Annotated[Optional[str], typer.Option("--token", envvar="CHANGEGATE_TOKEN",
                                                 help="API token for --url.")] = None,
    as_person: Annotated[Optional[str], typer.Option("--as", envvar="CHANGEGATE_USER",
                                                     help="Person (from the policy file) the local CLI acts as.")] = None,
) -> None:
    state.url, state.token, state.person, state.context = url, token, as_person, ctx


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of CHANGEGATE_DATABASE_URL to the newest revision."""
    rt = state.runtime()
    try:
        done = rt.upgrade_schema()
    except ChangegateError as exc:
        fail(exc)
    finally:
        rt.close()
    print(f"database at {rt.engine.url.render_as_string(hide_password=True)}: {done.sentence()}")


demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")


@demo_app.command("load")
def demo_load(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Fill the configured database with a demo plant: people, a dozen changes in every state."""
    from ..services.demo import already_loaded, change_count, load_demo

    rt = state.runtime()
    try:
        rt.upgrade_schema()
        existing = change_count(rt)
        result = None if existing else load_demo(rt)
    except ChangegateError as exc:
        fail(exc)
    finally:
        rt.close()
    if result is None:
        if json_out:
            emit_json({"changes": [], "tokens": {}, "already_loaded": True, "message": already_loaded(existing)})
        else:
            print(already_loaded(existing))
        return
    if json_out:
        emit_json(result)
        return
    print(f"loaded {len(result['changes'])} demo changes")
    print("API tokens for the demo people (shown once):")
    for person, secret in result["tokens"].items():
        print(f"  {person:14} {secret}")


policy_app = typer.Typer(help="The policy file.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="Policy YAML file")]) -> None:
    """Validate a policy file; every problem names file, line and field."""
    from ..services.policy import load_policy

    try:
        policy = load_policy(file)
    except ChangegateError as exc:
        fail(exc)
    print(f"{file}: valid ({len(policy.environments)} environments, {len(policy.roles)} roles, "
          f"{len(policy.people)} people, {len(policy.approvals.matrix)} approval rules)")


@policy_app.command("path")
def policy_path() -> None:
    """Print the policy file in force (CHANGEGATE_POLICY or the shipped default)."""
    from ..settings import Settings

    print(Settings().policy_path())


audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    json_out: Annotated[bool, typer.Option("--json")] = False,
    processes: Annotated[Optional[int], typer.Option(
        "--processes", min=1, max=64, help="Processes sharing the work on the local database (default: one per "
        "CPU for long chains; 1 keeps it to this process).")] = None,
    anchor: Annotated[Optional[list[str]], typer.Option(
        "--anchor", help="SEQ:HASH printed by 'audit head' earlier: check the chain still holds it (repeatable).")] = None,
) -> None:
    """Check the whole hash chain and every change record against its events; name the first broken
    event or differing record. Exit 1 when broken."""
    try:
        verdict = state.client(require_person=False).verify_audit(processes, anchor or [])
    except ChangegateError as exc:
        fail(exc)
    if json_out:
        emit_json(verdict)
        raise typer.Exit(0 if verdict["ok"] else 1)
    print(("OK: " if verdict["ok"] else "BROKEN: ") + verdict["message"])
    if verdict["ok"] and verdict.get("reconciled") is not None:
        print(f"OK: {verdict['reconciled']} change records agree with their events")
    if verdict["ok"] and anchor:
        print(f"OK: the chain holds {len(anchor)} anchor(s)")
    raise typer.Exit(0 if verdict["ok"] else 1)


@audit_app.command("head")
def audit_head(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the newest event's seq and hash (SEQ:HASH): keep it outside the database and check it
    later with 'audit verify --anchor SEQ:HASH'."""
    try:
        head = state.client(require_person=False).audit_head()
    except ChangegateError as exc:
        fail(exc)
    if json_out:
        emit_json(head)
    else:
        print(head["anchor"])


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo plant if the database holds no change.")] = False,
    proxy_headers: Annotated[bool, typer.Option(
        help="Take the client address and scheme from X-Forwarded-For/-Proto, from trusted proxies only.")] = True,
    forwarded_allow_ips: Annotated[Optional[str], typer.Option(
        help="Comma-separated proxy addresses to trust (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (uvicorn's access log, at info level).")] = False,
    run_concurrency: Annotated[int, typer.Option(
        "--run-concurrency", min=0, max=100, help="SQLite: how many runs the worker inside the server drives at "
        "once (0: none). PostgreSQL: runs execute in 'changegate worker' processes.")] = 4,
    workers: Annotated[int, typer.Option(min=1, max=64, help=(
        "Server processes sharing the port (one per CPU for PostgreSQL; with SQLite, writers in several "
        "processes wait on the file's lock, so 1 or 2)."))] = 1,
) -> None:
    """Run the REST API and the web pages (pages at /, OpenAPI at /docs); on SQLite, also a worker that
    carries out the deployment runs queued through the API."""
    import uvicorn

    from .. import __version__
    from ..api.app import create_app
    from ..services.demo import already_loaded, change_count, load_demo

    rt = state.runtime()
    try:
        if rt.engine.dialect.name == "sqlite":
            rt.upgrade_schema()  # embedded default: nothing else to run first
        else:
            rt.ensure_schema()  # several nodes: migrations are an explicit operator step
        if demo and (existing := change_count(rt)):
            print(already_loaded(existing))
        elif demo:
            result = load_demo(rt)
            print("demo loaded; API tokens (shown once):")
            for person, secret in result["tokens"].items():
                print(f"  {person:14} {secret}")
            print("web sign-in: each person sets a password with their one-time link (valid 24 h, shown once):")
            for person, secret in result["links"].items():
                print(f"  {person:14} http://{host}:{port}/set-password/{secret}")
    except ChangegateError as exc:
        fail(exc)
    print(f"changegate {__version__} on http://{host}:{port}  (pages: http://{host}:{port}/, "
          f"API docs: http://{host}:{port}/docs)")
    from .worker import serve_worker

    # On SIGTERM uvicorn waits for open responses before returning, and a followed run's log stays open until
    # the run rests: bound that wait, so the worker below stops (and stops its runs' commands) soon after.
    server = dict(host=host, port=port, proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips,
                  timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, **_server_logging(access_log))
    with serve_worker(rt, run_concurrency):  # SQLite: runs execute in this process; PostgreSQL: changegate worker
        if workers == 1:
            uvicorn.run(create_app(rt), **server)
        else:  # each server process opens its own engine from the same environment
            uvicorn.run("changegate.api.app:app_from_environment", factory=True, workers=workers, **server)


GRACEFUL_SHUTDOWN_SECONDS = 5  # how long a stopping server lets open responses (a followed log) finish


def _server_logging(access_log: bool) -> dict:
    """uvicorn's logging: warnings and errors only; with the access log, also one info line per request."""
    if not access_log:
        return {"log_level": "warning", "access_log": False}
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn"]["level"] = "WARNING"  # start-up chatter stays quiet, as without the log
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO"
    # log_level=None: uvicorn would otherwise set one level on both loggers.
    return {"log_level": None, "access_log": True, "log_config": config}


# The command modules are imported when the line names them (or help lists them): importing all of them and
# building their click commands cost every call (a remote ``gate`` included) tens of milliseconds (issue 13).
# name -> (module in cli/, attribute: a Typer group or a command function). In Typer's own listing order:
# the root's commands, then its groups.
_LAZY: dict[str, tuple[str, str]] = {
    "gate": ("gate", "gate"), "calendar": ("schedule", "calendar"), "deploy": ("deploy", "deploy"),
    "rollback": ("deploy", "rollback"), "worker": ("worker", "worker"),  # worker: where runs execute (docs/runner.md)
    "change": ("change", "change_app"), "token": ("token", "token_app"), "env": ("gate", "env_app"),
    "schedule": ("schedule", "schedule_app"), "freeze": ("schedule", "freeze_app"), "sql": ("sql", "sql_app"),
    "user": ("user", "user_app"), "plan": ("deploy", "plan_app"), "run": ("deploy", "run_app"),
    "jobs": ("worker", "jobs_app"), "cmdb": ("cmdb", "cmdb_app"),
}
_ORDER = ("serve", "gate", "calendar", "deploy", "rollback", "worker", "db", "demo", "policy", "audit", "change",
          "token", "env", "schedule", "freeze", "sql", "user", "plan", "run", "jobs", "cmdb")


def _lazy_command(name: str):
    """The click command of a command module, built as Typer builds the root's own (same settings)."""
    import importlib

    from typer.models import CommandInfo, TyperInfo

    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f"{__package__}.{module_name}")
    if name == "change":
        _change_extras(module.change_app)
    target = getattr(module, attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group_from_info(
            TyperInfo(target, name=name), pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode, suggest_commands=app.suggest_commands)
    return typer.main.get_command_from_info(CommandInfo(name=name, callback=target),
                                            pretty_exceptions_short=app.pretty_exceptions_short,
                                            rich_markup_mode=app.rich_markup_mode)


def _change_extras(change_app: typer.Typer) -> None:
    """``change impact`` and ``change curate`` live with the CMDB (cli/cmdb.py)."""
    from . import cmdb as _cmdb

    if not any(c.name == "impact" for c in change_app.registered_commands):
        change_app.command("impact")(_cmdb.change_impact)
        change_app.command("curate")(_cmdb.curate)


if __name__ == "__main__":
    app()
