"""``changegate gate`` and ``changegate env``: the pipeline's question and environment facts."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from typing import Annotated, Optional

import typer

from .change import JsonOpt, _call
from .output import console, emit_json, escape, plant_time, table
from .state import state

_MARK = {"pass": ("green", "PASS"), "fail": ("red", "FAIL"), "not_assessed": ("yellow", "NOT ASSESSED")}


def gate(
    ref: Annotated[str, typer.Argument(help="The change, e.g. CHG-12.")],
    env: Annotated[str, typer.Option("--env", help="Environment about to be deployed.")],
    at: Annotated[Optional[str], typer.Option("--at", help="Evaluate at this time (ISO 8601) instead of now.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """May I deploy this change to this environment now? Exit 0 go, 1 blocked (every failing rule printed),
    2 usage or configuration error."""
    client = state.client()
    payload = {"environment": env, **({"at": at} if at else {})}
    verdict = _call(lambda: client.gate(ref, payload))
    if json_out:
        emit_json(verdict)
    else:
        head = "[bold green]GO[/]" if verdict["allowed"] else "[bold red]BLOCKED[/]"
        local = escape(plant_time(verdict.get("local_at"), None, verdict.get("timezone")))
        console.print(f"{head} {verdict['change']} → {escape(verdict['environment'])} at {verdict['at']}{local}",
                      highlight=False)
        for r in verdict["results"]:
            color, label = _MARK[r["status"]]
            console.print(f"  [{color}]{label:<12}[/] {r['rule']}: {escape(r['message'])}", highlight=False)
    raise typer.Exit(0 if verdict["allowed"] else 1)


env_app = typer.Typer(help="Environments and their recorded facts.", no_args_is_help=True)


@env_app.command("list")
def env_list(json_out: JsonOpt = False) -> None:
    client = state.client()
    envs = _call(client.environments)
    if json_out:
        emit_json(envs)
        return
    table(None, ["name", "production", "data", "deploy", "data refreshed", "max age (days)"],
          [[e["name"], "yes" if e["production"] else "", e["data"], ", ".join(e["deploy"]),
            (e["data_refreshed_at"] or "never")[:19], e["refresh_max_age_days"] or ""] for e in envs])


@env_app.command("refreshed")
def env_refreshed(
    name: Annotated[str, typer.Argument(help="Environment whose data was refreshed, e.g. uat.")],
    at: Annotated[Optional[str], typer.Option("--at", help="When (ISO 8601); default now.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that an environment's data was refreshed (the gate's UAT-freshness rule reads it)."""
    client = state.client()
    result = _call(lambda: client.record_refresh(name, {"at": at} if at else {}))
    if json_out:
        emit_json(result)
    else:
        print(f"{result['name']}: data refreshed at {result['data_refreshed_at']} (recorded by {result['refreshed_by']})")
