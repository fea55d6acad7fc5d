"""``changegate deploy``, ``rollback``, ``plan`` and ``run``: deployment runs (docs/runner.md; ``worker`` is in
worker.py).

Locally, ``deploy`` and ``rollback`` drive the run in this process (it is a worker while it runs, holding
the run's lease); through ``--url`` the server queues the run and a ``changegate worker`` carries it out.
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
run_app = typer.Typer(help="A change's deployment run: show it, its log, confirm a manual step.",
                      no_args_is_help=True)


class _Runs:
    """The same calls locally (services, in this process) and remotely (the API)."""

    def __init__(self) -> None:
        self.client = state.client()
        self.remote = bool(state.url)

    def call(self, local: Callable[..., Any], model: Any, payload: Optional[dict], method: str, path: str,
             *args: Any, write: bool = True, **kwargs: Any) -> Any:
        try:
            if self.remote:
                return self.client._call(method, path, **({"json": payload} if payload is not None else {}))
            from .local import _json, _parse

            body = (_parse(model, payload),) if model is not None else ()
            rt = self.client.rt
            with rt.uow(write=write) as uow:
                return _json(local(uow, rt.context(self.client.person), *args, *body, **kwargs))
        except ChangegateError as exc:
            fail(exc)


@plan_app.command("attach")
def plan_attach(ref: RefArg, file: Annotated[Path, typer.Argument(help="The plan file (YAML).")],
                json_out: JsonOpt = False) -> None:
    """Attach a deployment plan to a change (checked first; every problem as file:line: field)."""
    from ..services import runs
    from ..schemas.runs import PlanIn

    payload = {"filename": file.name, "text": read_text(file, "plan file")}
    out = _Runs().call(runs.attach_plan, PlanIn, payload, "PUT", f"/changes/{ref}/plan", ref)
    if json_out:
        emit_json(out)
    else:
        console.print(f"{out['change']}: plan {escape(out['filename'])} attached (sha256 {out['sha256'][:12]}…)",
                      highlight=False)


@plan_app.command("show")
def plan_show(ref: RefArg) -> None:
    from ..services import runs

    out = _Runs().call(runs.get_plan, None, None, "GET", f"/changes/{ref}/plan", ref, write=False)
    print(out["text"], end="" if out["text"].endswith("\n") else "\n")


def deploy(
    ref: RefArg,
    env: Annotated[str, typer.Option("--env", help="The environment to deploy to (the change's own).")],
    plan: Annotated[Optional[Path], typer.Option("--plan", help="Attach this plan first (else the change's plan).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print exactly what would run, in order; run nothing.")] = False,
    override_reason: Annotated[str, typer.Option("--override-reason", help="Emergency: why a blocked gate is overridden.")] = "",
    rehearse_rollback: Annotated[bool, typer.Option("--rehearse-rollback", help="Deploy on a non-production --env, roll back at once, check, and record it as the change's rollback_test evidence.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Deploy a change: the gate first, then protect, steps, wait, checks, and commit or roll back.
    Exit 0 committed (or queued through --url), 1 refused, rolled back, failed or paused, 2 usage error."""
    from ..services import runs
    from ..schemas.runs import DeployIn

    payload: dict = {"environment": env, "override_reason": override_reason, "dry_run": dry_run,
                     "rehearse_rollback": rehearse_rollback}
    if plan is not None:
        payload["plan"] = {"filename": plan.name, "text": read_text(plan, "plan file")}
    client = _Runs()
    worker = None if client.remote or dry_run else runs.worker_id()
    out = client.call(runs.create_run, DeployIn, payload, "POST", f"/changes/{ref}/deploy", ref, worker=worker)
    if dry_run:
        _print_dry_run(out, json_out)
        return
    if client.remote:
        _print_run(out, json_out)
        console.print(f"run {out['id']} queued: a worker carries it out (changegate run show {out['change']})",
                      highlight=False)
        return
    _drive_and_report(client, out["id"], worker, ref, json_out,
                      success="rolled_back" if rehearse_rollback else "committed")


def _print_dry_run(out: dict, json_out: bool) -> None:
    if json_out:
        emit_json(out)
        return
    console.print(f"dry run of {out['change']} on {escape(out['environment'])} (plan sha256 "
                  f"{out['plan_sha256'][:12]}…); nothing runs:", highlight=False)
    for line in out["lines"]:
        console.print(f"  {escape(line)}", highlight=False)


def _drive_and_report(client: "_Runs", run_id: int, worker: str, ref: str, json_out: bool,
                      success: str = "committed") -> None:
    from ..services import runs

    rt = client.client.rt
    progress = None if json_out else (lambda line: console.print(f"  {escape(line)}", highlight=False))
    try:
        final = runs.drive(rt, run_id, worker, on_event=progress)
    except ChangegateError as exc:
        fail(exc)
    out = client.call(runs.show_run, None, None, "GET", f"/changes/{ref}/run", ref, write=False)
    _print_run(out, json_out)
    raise typer.Exit(0 if final == success else 1)


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
    if out.get("rollback_over_limit"):
        console.print("  [bold red]the rollback took longer than the policy's limit[/]", highlight=False)
    for note in out["notes"]:
        console.print(f"  note: {escape(note)}", highlight=False)


def rollback(
    ref: RefArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")],
    json_out: JsonOpt = False,
) -> None:
    """Roll back now, skipping analysis: a person's decision, audited. Exit 0 rolled back, 1 otherwise."""
    from ..services import runs
    from ..schemas.runs import RollbackIn

    client = _Runs()
    out = client.call(runs.request_rollback, RollbackIn, {"reason": reason}, "POST", f"/changes/{ref}/rollback", ref)
    if client.remote:
        _print_run(out, json_out)
        return
    rt = client.client.rt
    worker = runs.worker_id()
    if not runs.lease_to(rt, out["id"], worker):  # an expired lease (its worker died) is taken over
        _print_run(out, json_out)  # a live worker holds the run: it carries the rollback out
        console.print(f"the rollback is carried out by {escape(str(out['lease_owner']))}", highlight=False)
        return
    _drive_and_report(client, out["id"], worker, ref, json_out, success="rolled_back")


@run_app.command("show")
def run_show(ref: RefArg, json_out: JsonOpt = False) -> None:
    """The change's newest run: its state, what it measured, and its steps."""
    from ..services import runs

    out = _Runs().call(runs.show_run, None, None, "GET", f"/changes/{ref}/run", ref, write=False)
    _print_run(out, json_out)
    if not json_out:
        for s in out["steps"]:
            status = "" if s["exit_status"] is None else f" (exit {s['exit_status']})"
            console.print(f"  {s['key']:<28} {s['state']:<10}{status} {escape(s['detail'].get('message', ''))}",
                          highlight=False)


@run_app.command("log")
def run_log(ref: RefArg) -> None:
    """Every step of the newest run with its times, exit status and output."""
    from ..services import runs
    from ..schemas.runs import RunOut

    client = _Runs()
    if client.remote:
        try:
            response = client.client.http.get(f"/changes/{ref}/run/log")
        except Exception as exc:  # noqa: BLE001 - httpx's errors, reported as the remote client does
            fail(ChangegateError(f"cannot reach the server: {exc}"))
        if not response.is_success:
            client.call(None, None, None, "GET", f"/changes/{ref}/run")  # raises the server's error
        print(response.text, end="")
        return
    out = client.call(runs.show_run, None, None, "GET", f"/changes/{ref}/run", ref, write=False)
    print(runs.log_text(RunOut.model_validate(out)), end="")


@run_app.command("confirm")
def run_confirm(
    ref: RefArg,
    step: Annotated[str, typer.Argument(help="The manual step's name (or key, e.g. steps.2).")],
    failed: Annotated[bool, typer.Option("--failed", help="Say the step could not be done.")] = False,
    note: Annotated[str, typer.Option("--note", help="What was done, for the record.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Confirm a manual step done (or failed): only a holder of the step's role may."""
    from ..services import runs
    from ..schemas.runs import ConfirmIn

    payload = {"step": step, "done": not failed, "note": note}
    out = _Runs().call(runs.confirm_step, ConfirmIn, payload, "POST", f"/changes/{ref}/run/confirm", ref)
    _print_run(out, json_out)

