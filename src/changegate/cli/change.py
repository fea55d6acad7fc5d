"""``changegate change …``: the change record from the command line."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..core.errors import ChangegateError
from .output import console, emit_json, escape, fail, read_text, table, usage
from .state import state

change_app = typer.Typer(help="File, move, approve and inspect change requests.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (recorded in the audit trail).")]
Expected = Annotated[Optional[int], typer.Option("--expected-version",
                                                 help="Refuse if the change's row_version differs (409).")]


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ChangegateError as exc:
        fail(exc)


def _escaped(value: Any) -> Any:
    """Every string in a result, escaped for Rich: a title like "[hotfix] …" is text, not markup."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def show(change: dict, json_out: bool) -> None:
    if json_out:
        emit_json(change)
        return
    c = _escaped(change)
    console.print(f"[bold]{c['ref']}[/] {c['title']}  [cyan]{c['state']}[/]  (v{c['row_version']})", highlight=False)
    console.print(f"  {c['type']} · {c['category']} · {c['release_level']} · risk {c['risk']} · env {c['environment']}"
                  f" · requested by {c['requester']}", highlight=False)
    if c["items"]:
        console.print(f"  items: {', '.join(c['items'])}", highlight=False)
    if c["planned_start"]:
        console.print(f"  planned: {c['planned_start']} for {c['estimated_downtime_minutes']} min", highlight=False)
    a = c["approval"]
    console.print(f"  approvals required: {', '.join(a['required']) or 'none'}"
                  + (f"; missing: {', '.join(a['missing'])}" if a["missing"] else ""), highlight=False)
    if c["emergency_status"] != "not_emergency":
        console.print(f"  emergency: retroactive approval {c['emergency_status']}"
                      + (f" (due {c['retro_approval_due']})" if c["retro_approval_due"] else ""), highlight=False)
    for ap in c["approvals"]:
        console.print(f"  - {ap['decision']} by {ap['approver']} as {ap['role']}: {ap['reason']}", highlight=False)
    for ev in c["evidence"]:
        console.print(f"  evidence #{ev['id']} {ev['kind']} {ev['filename']} {ev['size']} B sha256 {ev['sha256'][:16]}…",
                      highlight=False)
    if c["uat_signoff"]:
        console.print(f"  UAT signed off by {c['uat_signoff']['by']} at {c['uat_signoff']['at']}", highlight=False)
    console.print(f"  next: {', '.join(c['available_actions']) or '—'}", highlight=False)


def _payload(**fields: Any) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def _plan_fields(impact, implementation, verification, rollback_file, interpreter, start, downtime, items,
                 version, description) -> dict:
    data = _payload(impact_analysis=impact, implementation_plan=implementation, verification_plan=verification,
                    planned_start=start, estimated_downtime=downtime, version=version, description=description)
    if items:
        data["items"] = items
    if rollback_file is not None:
        data["rollback_plan"] = {"script": read_text(rollback_file, "rollback script"), "interpreter": interpreter}
    return data


Items = Annotated[Optional[list[str]], typer.Option("--item", "-i", help="Configuration item or module (repeat).")]


@change_app.command("create")
def create(
    title: Annotated[str, typer.Option(help="Short title.")],
    env: Annotated[str, typer.Option("--env", help="Target environment.")],
    type_: Annotated[str, typer.Option("--type", help="standard | normal | emergency")] = "normal",
    category: Annotated[Optional[str], typer.Option(help="hardware | software_configuration | application | data | traffic")] = None,
    level: Annotated[Optional[str], typer.Option("--level", help="patch | minor | major")] = None,
    risk: Annotated[str, typer.Option(help="standard | important | urgent | critical")] = "standard",
    template: Annotated[Optional[str], typer.Option(help="Standard change template id.")] = None,
    description: Annotated[Optional[str], typer.Option()] = None,
    items: Items = None,
    impact: Annotated[Optional[str], typer.Option(help="Impact analysis.")] = None,
    implementation: Annotated[Optional[str], typer.Option(help="Implementation plan.")] = None,
    verification: Annotated[Optional[str], typer.Option(help="Verification plan.")] = None,
    rollback_file: Annotated[Optional[Path], typer.Option("--rollback-file", help="The exact rollback script.")] = None,
    interpreter: Annotated[str, typer.Option(help="Interpreter of the rollback script.")] = "sh",
    start: Annotated[Optional[str], typer.Option(help="Planned start, ISO 8601 with offset.")] = None,
    downtime: Annotated[Optional[str], typer.Option(help="Estimated downtime: 30m, 1h30m, 90.")] = None,
    version: Annotated[Optional[str], typer.Option(help="Semantic version the change ships.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """File a change request (a draft until you submit it)."""
    payload = _payload(title=title, environment=env, type=type_, category=category, release_level=level, risk=risk,
                       template=template)
    payload.update(_plan_fields(impact, implementation, verification, rollback_file, interpreter, start, downtime,
                                items, version, description))
    client = state.client()
    show(_call(lambda: client.create_change(payload)), json_out)


@change_app.command("edit")
def edit(
    ref: str,
    title: Annotated[Optional[str], typer.Option()] = None,
    category: Annotated[Optional[str], typer.Option()] = None,
    level: Annotated[Optional[str], typer.Option("--level")] = None,
    risk: Annotated[Optional[str], typer.Option()] = None,
    description: Annotated[Optional[str], typer.Option()] = None,
    items: Items = None,
    impact: Annotated[Optional[str], typer.Option()] = None,
    implementation: Annotated[Optional[str], typer.Option()] = None,
    verification: Annotated[Optional[str], typer.Option()] = None,
    rollback_file: Annotated[Optional[Path], typer.Option("--rollback-file")] = None,
    interpreter: Annotated[str, typer.Option()] = "sh",
    start: Annotated[Optional[str], typer.Option()] = None,
    downtime: Annotated[Optional[str], typer.Option()] = None,
    version: Annotated[Optional[str], typer.Option()] = None,
    expected_version: Expected = None,
    json_out: JsonOpt = False,
) -> None:
    """Change fields of a draft."""
    payload = _payload(title=title, category=category, release_level=level, risk=risk,
                       expected_version=expected_version)
    payload.update(_plan_fields(impact, implementation, verification, rollback_file, interpreter, start, downtime,
                                items, version, description))
    client = state.client()
    show(_call(lambda: client.update_change(ref, payload)), json_out)


@change_app.command("list")
def list_(
    state_: Annotated[Optional[list[str]], typer.Option("--state")] = None,
    env: Annotated[Optional[list[str]], typer.Option("--env")] = None,
    type_: Annotated[Optional[list[str]], typer.Option("--type")] = None,
    requester: Annotated[Optional[str], typer.Option()] = None,
    search: Annotated[Optional[str], typer.Option("--search", "-q", help="Text in title, description, items.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_out: JsonOpt = False,
) -> None:
    """List changes, newest first, with filters and paging."""
    params = {"state": state_ or [], "environment": env or [], "type": type_ or [], "requester": requester,
              "q": search, "limit": limit, "offset": offset}
    client = state.client()
    page = _call(lambda: client.list_changes(params))
    if json_out:
        emit_json(page)
        return
    table(f"{page['total']} changes (showing {offset + 1 if page['items'] else 0}–{offset + len(page['items'])})",
          ["ref", "state", "type", "level", "env", "requester", "planned", "title"],
          [[c["ref"], c["state"] + (" ⚠ overdue" if c["emergency_status"] == "overdue" else ""), c["type"],
            c["release_level"], c["environment"], c["requester"], (c["planned_start"] or "")[:16], c["title"]]
           for c in page["items"]])


@change_app.command("show")
def show_cmd(ref: str, json_out: JsonOpt = False) -> None:
    """A change with its approvals, evidence and what can happen next."""
    client = state.client()
    show(_call(lambda: client.get_change(ref)), json_out)


def _transition_command(action: str, doc: str, *, with_start: bool = False, with_override: bool = False) -> None:
    def command(ref: str, reason: Reason = "", expected_version: Expected = None,
                at: Annotated[Optional[str], typer.Option("--at", help="Planned start (schedule/reschedule).")] = None,
                override_reason: Annotated[str, typer.Option(
                    help="Emergency changes: why an overridable blackout (schedule.override) or a blocked "
                         "gate on start (gate.override) is overridden.")] = "",
                json_out: JsonOpt = False) -> None:
        if (at is not None or override_reason) and not with_start and not (with_override and at is None):
            usage(f"--at and --override-reason apply to schedule and reschedule (--override-reason also to "
                  f"start), not {action}")
        payload = _payload(action=action, reason=reason, expected_version=expected_version, planned_start=at,
                           override_reason=override_reason or None)
        client = state.client()
        show(_call(lambda: client.transition(ref, payload)), json_out)

    command.__doc__ = doc
    change_app.command(action.replace("_", "-"))(command)


for _action, _doc in [
    ("submit", "Submit a draft for review (checks impact, evidence, rollback plan, timing)."),
    ("withdraw", "Take a submitted change back to draft."),
    ("start", "Start implementing (needs deploy rights on the environment)."),
    ("complete", "Record a successful implementation."),
    ("fail", "Record a failed implementation."),
    ("roll_back", "Record that the change was rolled back."),
    ("cancel", "Cancel an open change."),
    ("unschedule", "Release a scheduled change's slot."),
]:
    _transition_command(_action, _doc, with_override=_action == "start")
_transition_command("schedule", "Schedule an authorized change (at its planned start, or --at).", with_start=True)
_transition_command("reschedule", "Move a scheduled change to a new start (--at).", with_start=True)


@change_app.command("assess")
def assess(
    ref: str,
    risk: Annotated[Optional[str], typer.Option(help="Confirmed risk level.")] = None,
    readiness: Annotated[Optional[str], typer.Option(help="Readiness analysis.")] = None,
    risk_analysis: Annotated[Optional[str], typer.Option(help="Risk analysis.")] = None,
    emergency_plan: Annotated[Optional[str], typer.Option(help="Emergency plan.")] = None,
    reason: Reason = "",
    expected_version: Expected = None,
    json_out: JsonOpt = False,
) -> None:
    """Record the review and move the change to assessed."""
    payload = _payload(risk=risk, readiness_analysis=readiness, risk_analysis=risk_analysis,
                       emergency_plan=emergency_plan, reason=reason, expected_version=expected_version)
    client = state.client()
    show(_call(lambda: client.assess(ref, payload)), json_out)


@change_app.command("approve")
def approve(ref: str, role: Annotated[str, typer.Option(help="The approver role you fill.")], reason: Reason = "",
            expected_version: Expected = None, json_out: JsonOpt = False) -> None:
    """Approve a change in one of your roles."""
    payload = _payload(role=role, decision="approved", reason=reason, expected_version=expected_version)
    client = state.client()
    show(_call(lambda: client.decide_approval(ref, payload)), json_out)


@change_app.command("reject")
def reject(ref: str, reason: Reason = "",
           role: Annotated[Optional[str], typer.Option(help="Reject as this approver role; without it, reject at review.")] = None,
           expected_version: Expected = None, json_out: JsonOpt = False) -> None:
    """Reject a change, as an approver (--role) or at review."""
    client = state.client()
    if role:
        payload = _payload(role=role, decision="rejected", reason=reason, expected_version=expected_version)
        result = _call(lambda: client.decide_approval(ref, payload))
    else:
        payload = _payload(action="reject", reason=reason, expected_version=expected_version)
        result = _call(lambda: client.transition(ref, payload))
    show(result, json_out)


@change_app.command("attach")
def attach(
    ref: str,
    file: Annotated[Path, typer.Argument(help="Log, screenshot or report.")],
    kind: Annotated[str, typer.Option(help="test_log | screenshot | test_report | rollback_test (a rehearsal of the "
                                      "rollback, read by the gate) | deployment_log | other")] = "test_log",
    description: Annotated[str, typer.Option()] = "",
    media_type: Annotated[Optional[str], typer.Option(help="Media type (guessed from the name).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach test evidence (stored with its SHA-256)."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        usage(f"evidence file {file}: {exc.strerror}")
    import mimetypes  # ~20 ms at import: only for this command (--version and --help need none of it)

    media_type = media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    client = state.client()
    ev = _call(lambda: client.attach(ref, file.name, content, media_type, kind, description))
    if json_out:
        emit_json(ev)
    else:
        print(f"attached evidence #{ev['id']} {ev['filename']} ({ev['size']} bytes, sha256 {ev['sha256']})")


@change_app.command("signoff")
def signoff(ref: str, note: Annotated[str, typer.Option()] = "", json_out: JsonOpt = False) -> None:
    """Record the UAT sign-off (key users; not on your own change)."""
    client = state.client()
    show(_call(lambda: client.sign_off(ref, {"note": note})), json_out)


@change_app.command("comment")
def comment(ref: str, body: Annotated[str, typer.Argument(help="The comment.")], json_out: JsonOpt = False) -> None:
    """Add a comment."""
    client = state.client()
    show(_call(lambda: client.comment(ref, {"body": body})), json_out)


@change_app.command("history")
def history(ref: str, json_out: JsonOpt = False) -> None:
    """Every audited event of a change, refused attempts included."""
    client = state.client()
    events = _call(lambda: client.history(ref))
    if json_out:
        emit_json(events)
        return
    table(None, ["#", "at", "actor", "action", "state", "detail"],
          [[e["seq"], e["at"][:19], e["actor"], e["action"],
            f"{e['before'].get('state', '')}→{e['after'].get('state', '')}" if e["after"] else "",
            "; ".join(r["message"] for r in e["detail"].get("reasons", [])) or e["detail"].get("reason", "")]
           for e in events])


@change_app.command("conflicts")
def conflicts(ref: str, json_out: JsonOpt = False) -> None:
    """Scheduled changes overlapping this one on shared items (every item, the exact overlap)."""
    client = state.client()
    found = _call(lambda: client.conflicts(ref))
    if json_out:
        emit_json(found)
        return
    if not found:
        print(f"{ref}: no conflict")
    for c in found:
        through = f" through {'; '.join(c['through'])}" if c.get("through") else ""
        print(f"{'accepted' if c['accepted'] else 'CONFLICT'}: {c['other']} on {', '.join(c['items'])}{through} "
              f"from {c['start']} to {c['end']}")


@change_app.command("accept-conflict")
def accept_conflict(ref: str, other: Annotated[str, typer.Option("--with", help="The other change.")],
                    reason: Reason = "", json_out: JsonOpt = False) -> None:
    """Accept, with a reason, that two changes overlap on shared items (change managers)."""
    client = state.client()
    result = _call(lambda: client.accept_conflict(ref, {"other": other, "reason": reason}))
    if json_out:
        emit_json(result)
    else:
        print(f"{ref}: conflict with {other} accepted")


@change_app.command("check-sql")
def check_sql(
    ref: str,
    engine: Annotated[str, typer.Option(help="postgresql | sqlite")],
    schema: Annotated[Path, typer.Option(help="Schema of the target (e.g. pg_dump --schema-only), with optional "
                                              "sample data.")],
    deploy: Annotated[Path, typer.Option(help="The deploy script.")],
    rollback: Annotated[Path, typer.Option(help="The rollback script.")],
    verify: Annotated[Optional[Path], typer.Option(help="Optional verify script (Sqitch-style).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Prove the change's SQL idempotent and reversible on a scratch database; attach scripts and result.

    Exit 0 every property passes, 1 a property fails, 2 usage error.
    """
    payload = {"engine": engine}
    for key, path in (("schema_sql", schema), ("deploy", deploy), ("rollback", rollback), ("verify", verify)):
        if path is not None:
            payload[key] = {"name": path.name, "text": read_text(path, f"{key.removesuffix('_sql')} script")}
    client = state.client()
    report = _call(lambda: client.sql_check(ref, payload))
    if json_out:
        emit_json(report)
    else:
        for name, prop in report["properties"].items():
            console.print(f"  {prop['verdict'].upper():<8} {name}: {escape('; '.join(prop['sentences']))}",
                          highlight=False)
        console.print(f"{'passed' if report['passed'] else 'FAILED'}; attached to {ref} as evidence "
                      f"(scripts sha256 {report['scripts_sha256']['combined'][:16]}…)", highlight=False)
    raise typer.Exit(0 if report["passed"] else 1)
