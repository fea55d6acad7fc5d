"""``changegate schedule``, ``calendar`` and ``freeze``: when changes may run."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from pathlib import Path
from typing import Annotated, Optional

import typer

from .change import JsonOpt, _call
from .output import console, emit_json, escape, table, usage
from .state import state

schedule_app = typer.Typer(help="Deployment windows, blackouts and slots.", no_args_is_help=True)
freeze_app = typer.Typer(help="Ad-hoc freezes declared at run time.", no_args_is_help=True)

Env = Annotated[str, typer.Option("--env", help="Environment, e.g. prod.")]
ItemOpt = Annotated[Optional[list[str]], typer.Option("--item", "-i", help="Configuration item (repeat).")]


def _when(value: str | None) -> str | None:
    """A date alone means midnight UTC of that day."""
    if value and len(value) == 10:
        return f"{value}T00:00:00+00:00"
    return value


def _print_slot(slot: dict, json_out: bool) -> None:
    if json_out:
        emit_json(slot)
        return
    if slot["allowed"] and slot["start"]:
        w = slot["window"]
        where = escape(f" in window {w['name']} ({w['local_start'][11:16]}–{w['local_end'][11:16]} {w['timezone']})"
                       ) if w else ""
        console.print(f"[bold green]allowed[/] {slot['start']} → {slot['end']}{where}", highlight=False)
    else:
        console.print(f"[bold red]not allowed[/] {slot['start'] or ''}", highlight=False)
    for r in slot["reasons"]:
        console.print(f"  - {escape(r['message'])} [dim]({r['code']})[/]", highlight=False)


@schedule_app.command("next-slot")
def next_slot(
    env: Env,
    duration: Annotated[str, typer.Option(help="How long: 90m, 1h30m, 45.")],
    after: Annotated[Optional[str], typer.Option(help="Earliest start (ISO 8601); default now.")] = None,
    change: Annotated[Optional[str], typer.Option(help="Plan for this change: its items, type, and free of "
                                                       "conflicts with other changes.")] = None,
    items: ItemOpt = None,
    emergency: Annotated[bool, typer.Option(help="Plan as an emergency change.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """The earliest start satisfying every window, blackout, freeze and other change's slot."""
    client = state.client()
    payload = {"environment": env, "duration": duration, "after": _when(after), "change": change,
               "items": items or [], "emergency": emergency}
    slot = _call(lambda: client.next_slot({k: v for k, v in payload.items() if v is not None}))
    _print_slot(slot, json_out)
    raise typer.Exit(0 if slot["allowed"] else 1)


@schedule_app.command("explain")
def explain(
    env: Env,
    at: Annotated[str, typer.Option(help="Start (ISO 8601).")],
    duration: Annotated[str, typer.Option(help="How long: 90m, 1h30m, 45.")],
    items: ItemOpt = None,
    emergency: Annotated[bool, typer.Option(help="As an emergency change.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Whether a change may run at this time for this long, with every reason. Exit 1 when not."""
    client = state.client()
    slot = _call(lambda: client.explain({"environment": env, "at": _when(at), "duration": duration,
                                         "items": items or [], "emergency": emergency}))
    _print_slot(slot, json_out)
    raise typer.Exit(0 if slot["allowed"] else 1)


def calendar(
    start: Annotated[Optional[str], typer.Option("--from", help="Start date or instant; default now.")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="End date or instant; default 30 days later.")] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="Only this environment.")] = None,
    ics: Annotated[Optional[Path], typer.Option("--ics", help="Write an iCalendar file here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Windows, blackouts, freezes and scheduled changes, with conflicts."""
    client = state.client()
    params = {k: v for k, v in {"from": _when(start), "to": _when(end), "environment": env}.items() if v}
    if ics is not None:
        data = _call(lambda: client.calendar_ics(params))
        try:
            ics.write_bytes(data)
        except OSError as exc:
            usage(f"{ics}: {exc.strerror}")
        print(f"wrote {ics} ({len(data)} bytes)")
        return
    cal = _call(lambda: client.calendar(params))
    if json_out:
        emit_json(cal)
        return
    table(f"{cal['start'][:16]} → {cal['end'][:16]}", ["start (UTC)", "end", "env", "kind", "name", "detail"],
          [[e["start"][:16], e["end"][:16], e["environment"], e["kind"], e["change"] or e["name"],
            e["description"]] for e in cal["entries"]])
    for c in cal["conflicts"]:
        mark = "accepted" if c["accepted"] else "CONFLICT"
        console.print(f"{mark}: {c['change']} and {c['other']} on {escape(', '.join(c['items']))} "
                      f"({c['start'][:16]}–{c['end'][11:16]} UTC)", highlight=False)


@freeze_app.command("add")
def freeze_add(
    name: Annotated[str, typer.Option(help="Short name, e.g. 'audit week'.")],
    start: Annotated[str, typer.Option("--from", help="Start (date or ISO 8601).")],
    end: Annotated[str, typer.Option("--to", help="End (date or ISO 8601).")],
    reason: Annotated[str, typer.Option(help="Why (shown to everyone whose change it blocks).")],
    env: Annotated[Optional[list[str]], typer.Option("--env", help="Only these environments (repeat).")] = None,
    items: ItemOpt = None,
    emergency_override: Annotated[bool, typer.Option(help="Emergency changes may override it.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Freeze changes between two instants (change managers)."""
    client = state.client()
    result = _call(lambda: client.add_freeze({"name": name, "start": _when(start), "end": _when(end), "reason": reason,
                                              "environments": env or [], "items": items or [],
                                              "emergency_override": emergency_override}))
    if json_out:
        emit_json(result)
        return
    print(f"freeze {result['id']} '{result['name']}' {result['start']} → {result['end']}")
    if result["affected_changes"]:
        print(f"scheduled changes whose slot it now blocks: {', '.join(result['affected_changes'])}")


@freeze_app.command("list")
def freeze_list(
    start: Annotated[Optional[str], typer.Option("--from")] = None,
    end: Annotated[Optional[str], typer.Option("--to")] = None,
    json_out: JsonOpt = False,
) -> None:
    client = state.client()
    params = {k: v for k, v in {"from": _when(start), "to": _when(end)}.items() if v}
    freezes = _call(lambda: client.list_freezes(params))
    if json_out:
        emit_json(freezes)
        return
    table(None, ["id", "name", "from", "to", "environments", "items", "reason"],
          [[f["id"], f["name"], f["start"][:16], f["end"][:16], ", ".join(f["environments"]) or "all",
            ", ".join(f["items"]) or "all", f["reason"]] for f in freezes])


@freeze_app.command("lift")
def freeze_lift(freeze_id: int, reason: Annotated[str, typer.Option(help="Why it is lifted.")],
                json_out: JsonOpt = False) -> None:
    client = state.client()
    result = _call(lambda: client.lift_freeze(freeze_id, {"reason": reason}))
    if json_out:
        emit_json(result)
    else:
        print(f"freeze {result['id']} lifted at {result['lifted_at']}")
