"""``changegate deploy``, ``rollback``, ``plan`` and ``run``: deployment runs (docs/runner.md; ``worker`` is in
worker.py).

Every runs command goes through the ``Client`` protocol (cli/client.py). Locally, ``deploy`` and ``rollback``
drive the run in this process (it is a worker while it runs, holding the run's lease); through ``--url`` the
server queues the run, a worker carries it out, and ``deploy`` follows it until it ends or pauses.
"""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start.

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..core.errors import ChangegateError
from .output import console, emit_json, escape, fail, read_text
from .state import state

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RefArg = Annotated[str, typer.Argument(help="The change, e.g. CHG-12.")]

plan_app = typer.Typer(help="A change's deployment plan.", no_args_is_help=True)
run_app = typer.Typer(help="A change's deployment run: show it, its log, confirm a manual step, commit a paused run.",
                      no_args_is_help=True)


def _call(method: str, *args: Any, **kwargs: Any) -> Any:
    """``state.client().<method>(…)``, its errors reported with their exit code."""
    try:
        return getattr(state.client(), method)(*args, **kwargs)
    except ChangegateError as exc:
        fail(exc)


@plan_app.command("attach")
def plan_attach(ref: RefArg, file: Annotated[Path, typer.Argument(help="The plan file (YAML).")],
                json_out: JsonOpt = False) -> None:
    """Attach a deployment plan to a change (checked first; every problem as file:line: field)."""
    out = _call("attach_plan", ref, {"filename": file.name, "text": read_text(file, "plan file")})
    if json_out:
        emit_json(out)
    else:
        console.print(f"{out['change']}: plan {escape(out['filename'])} attached (sha256 {out['sha256'][:12]}…)",
                      highlight=False)


@plan_app.command("show")
def plan_show(ref: RefArg) -> None:
    out = _call("get_plan", ref)
    print(out["text"], end="" if out["text"].endswith("\n") else "\n")


def deploy(
    ref: RefArg,
    env: Annotated[str, typer.Option("--env", help="The environment to deploy to (the change's own).")],
    plan: Annotated[Optional[Path], typer.Option("--plan", help="Attach this plan first (else the change's plan).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print exactly what would run, in order; run nothing.")] = False,
    override_reason: Annotated[str, typer.Option("--override-reason", help="Emergency: why a blocked gate is overridden.")] = "",
    rehearse_rollback: Annotated[bool, typer.Option("--rehearse-rollback", help="Deploy on a non-production --env, roll back at once, check, and record it as the change's rollback_test evidence.")] = False,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Through --url: return once the run is queued.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Deploy a change: the gate first, then protect, steps, wait, checks, and commit or roll back.
    Exit 0 committed (or queued with --no-follow), 1 refused, rolled back, failed or paused, 2 usage error."""
    payload: dict = {"environment": env, "override_reason": override_reason, "dry_run": dry_run,
                     "rehearse_rollback": rehearse_rollback}
    if plan is not None:
        payload["plan"] = {"filename": plan.name, "text": read_text(plan, "plan file")}
    if dry_run:
        _print_dry_run(_call("deploy", ref, payload), json_out)
        return
    follow = not (no_follow and state.url)
    out = _with_progress(json_out, lambda progress: _call("deploy", ref, payload, progress, follow))
    _print_run(out, json_out)
    if not follow:
        console.print(f"run {out['id']} queued: a worker carries it out (changegate run show {out['change']})",
                      highlight=False)
        return
    from ..core.runs.machine import RunState

    raise typer.Exit(0 if out["state"] == (RunState.ROLLED_BACK if rehearse_rollback else RunState.COMMITTED) else 1)


def _with_progress(json_out: bool, act: Callable[[Any], dict]) -> dict:
    """Run ``act(progress)`` with the live display on a terminal, plain lines otherwise (on stderr with
    --json, so that stdout stays one JSON document)."""
    from . import progress

    return progress.showing(json_out, act)


def _print_dry_run(out: dict, json_out: bool) -> None:
    if json_out:
        emit_json(out)
        return
    console.print(f"dry run of {out['change']} on {escape(out['environment'])} (plan sha256 "
                  f"{out['plan_sha256'][:12]}…); nothing runs:", highlight=False)
    for line in out["lines"]:
        console.print(f"  {escape(line)}", highlight=False)


def _print_run(out: dict, json_out: bool) -> None:
    if json_out:
        emit_json(out)
        return
    console.print(f"run {out['id']} of {out['change']} on {escape(out['environment'])}: [bold]{out['state']}[/]"
                  + (f" — {escape(out['outcome'])}" if out["outcome"] else ""), highlight=False)
    figures = [("failed check → rollback start", out["check_to_rollback_seconds"], "s"),
               ("rollback took", out["rollback_seconds"], "s"), ("downtime", out["downtime_seconds"], "s")]
    for label, value, unit in figures:
        if value is not None:
            console.print(f"  {label}: {value:.3f} {unit}", highlight=False)
    from ..core.runs.machine import RunState

    if out["state"] == RunState.MONITORING and out.get("monitor_until"):
        from datetime import datetime, timezone

        until = datetime.fromisoformat(out["monitor_until"]).astimezone(timezone.utc).isoformat(timespec="seconds")
        console.print(f"  early-life monitoring until {until}", highlight=False)
    if out.get("rollback_over_limit"):
        console.print("  [bold red]the rollback took longer than the policy's limit[/]", highlight=False)
    for note in out["notes"]:
        console.print(f"  note: {escape(note)}", highlight=False)


def rollback(
    ref: RefArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    json_out: JsonOpt = False,
) -> None:
    """Roll back now, skipping analysis: a person's decision, audited. A run that has deployed nothing yet
    (queued, protecting) is cancelled instead. Exit 0 rolled back or cancelled (or handed to the worker that
    holds the run), 1 otherwise."""
    out = _with_progress(json_out, lambda progress: _call("rollback", ref, {"reason": reason}, progress))
    from ..core.runs.machine import RunState

    _print_run(out, json_out)
    if out["state"] == RunState.ROLLING_BACK:  # a live worker holds the run (or, through --url, a worker will)
        if not json_out:
            console.print(f"the rollback is carried out by {escape(str(out['lease_owner'] or 'a worker'))}",
                          highlight=False)
        return
    raise typer.Exit(0 if out["state"] in (RunState.ROLLED_BACK, RunState.CANCELLED) else 1)


@run_app.command("show")
def run_show(ref: RefArg, json_out: JsonOpt = False) -> None:
    """The change's newest run: its state, what it measured, and its steps."""
    out = _call("show_run", ref)
    _print_run(out, json_out)
    if not json_out:
        for s in out["steps"]:
            status = "" if s["exit_status"] is None else f" (exit {s['exit_status']})"
            console.print(f"  {s['key']:<28} {s['state']:<10}{status} {escape(s['detail'].get('message', ''))}",
                          highlight=False)


@run_app.command("log")
def run_log(ref: RefArg, follow: Annotated[bool, typer.Option("--follow", "-f", help="Print each step as it starts and ends, until the run ends or pauses.")] = False) -> None:
    """Every step of the newest run with its times, exit status and output."""
    if not follow:
        print(_call("run_log", ref), end="")
        return
    try:
        for line in state.client().follow_log(ref):
            print(line, end="", flush=True)
    except ChangegateError as exc:
        fail(exc)


@run_app.command("confirm")
def run_confirm(
    ref: RefArg,
    step: Annotated[str, typer.Argument(help="The manual step's name (or key, e.g. steps.2).")],
    failed: Annotated[bool, typer.Option("--failed", help="Say the step could not be done.")] = False,
    note: Annotated[str, typer.Option("--note", help="What was done, for the record.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Confirm a manual step done (or failed): only a holder of the step's role may."""
    _print_run(_call("confirm_step", ref, {"step": step, "done": not failed, "note": note}), json_out)


@run_app.command("commit")
def run_commit(
    ref: RefArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the deployment stands despite the failed check (audited).")],
    json_out: JsonOpt = False,
) -> None:
    """Commit a paused run: a person decides the deployment stands after a failed check (audited)."""
    _print_run(_call("commit_run", ref, {"reason": reason}), json_out)

