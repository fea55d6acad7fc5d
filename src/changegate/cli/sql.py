"""``changegate sql check``: prove on a scratch copy that a change's SQL is idempotent and reversible.

Exit codes: 0 every property passes, 1 a property fails (the sentences say which and why), 2 usage or
configuration error (missing, unreadable or non-UTF-8 file, unparsable SQL, refused statement, unknown
engine, no scratch database), with a sentence on stderr naming the file and line.
"""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import InvalidInput, Unavailable
from .output import BLOCKED, OK, USAGE, console, emit_json, err_console, escape, fail, read_text

sql_app = typer.Typer(help="Database change safety: check a change's SQL scripts on a scratch copy.",
                      no_args_is_help=True)


@sql_app.callback()
def _sql() -> None:
    """Database change safety: check a change's SQL scripts on a scratch copy, never on a real target."""


_MARK = {"pass": "[green]PASS   [/]", "fail": "[red]FAIL   [/]", "not_run": "[yellow]NOT RUN[/]"}
_SEVERITY = {"error": "[red]error[/]", "warning": "[yellow]warning[/]", "info": "[blue]info[/]"}


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


@sql_app.command("check")
def check(
    deploy: Annotated[str, typer.Argument(help="The deploy script (.sql).", show_default=False)],
    engine: Annotated[str, typer.Option("--engine", help="postgresql or sqlite.", show_default=False)],
    schema: Annotated[str, typer.Option("--schema", help="The target's schema as SQL, e.g. pg_dump --schema-only "
                                        "output, optionally with sample rows.", show_default=False)],
    rollback: Annotated[str, typer.Option("--rollback", help="The script that undoes the deploy.",
                                          show_default=False)],
    verify: Annotated[Optional[str], typer.Option("--verify", help="A script that succeeds when the change is in "
                                                  "place and fails (raises an error) when it is not.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds each script run may take.")] = 600.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run deploy twice, rollback twice and verify on a scratch copy of the schema: lint, idempotent,
    reversible, verify. Exit 0 all pass, 1 a property fails, 2 usage error."""
    from ..services.sqlcheck import run_check  # sqlglot and the engines: only when a check runs

    paths = {"schema": schema, "deploy": deploy, "rollback": rollback, "verify": verify}
    texts = {role: (path, read_text(Path(path), f"{role} script")) for role, path in paths.items() if path}
    try:
        report = run_check(engine, **texts, timeout=timeout)
    except InvalidInput as exc:
        _error(exc.message)
        for reason in exc.reasons[1:] if len(exc.reasons) > 1 else ():
            err_console.print(f"  - {escape(reason.message)} [dim]({reason.code})[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(USAGE)
    except Unavailable as exc:  # no scratch PostgreSQL: a configuration problem, not a verdict
        fail(exc)
    if json_out:
        emit_json(report)
    else:
        _print(report)
    raise typer.Exit(OK if report["passed"] else BLOCKED)


def _print(report: dict) -> None:
    head = "[bold green]PASSED[/]" if report["passed"] else "[bold red]FAILED[/]"
    console.print(f"SQL check on {report['engine']}: {head}", highlight=False)
    for name, prop in report["properties"].items():
        first, *rest = prop["sentences"] or [""]
        console.print(f"  {name:<11} {_MARK[prop['verdict']]} {escape(first)}", highlight=False, soft_wrap=True)
        for s in rest:
            console.print(f"  {'':<11} {'':<7}   - {escape(s)}", highlight=False, soft_wrap=True)
    if report["findings"]:
        console.print("Findings:", highlight=False)
        for f in report["findings"]:
            console.print(f"  {_SEVERITY[f['severity']]} {escape(f['script'])}:{f['line']}:{f['column']} "
                          f"[dim]{f['code']}[/] {escape(f['message'])}", highlight=False, soft_wrap=True)
    console.print("Transactions:", highlight=False)
    for entry in report["atomic"].values():
        console.print(f"  {escape(entry['how'])}", highlight=False, soft_wrap=True)
    for note in report["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False, soft_wrap=True)
    console.print(f"[dim]took {report['timings'].get('total', 0):.2f} s; "
                  f"scripts sha256 {report['scripts_sha256']['combined']}[/]", highlight=False, soft_wrap=True)
