"""``changegate schedule``, ``calendar`` and ``freeze``: when changes may run."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from .change import JsonOpt, _call
from .output import console, emit_json, escape, plant_time, table, usage
from .state import state

schedule_app = typer.Typer(help="Deployment windows, blackouts and slots.", no_args_is_help=True)
freeze_app = typer.Typer(help="Ad-hoc freezes declared at run time.", no_args_is_help=True)

Env = Annotated[str, typer.Option("--env", help="Environment, e.g. prod.")]
ItemOpt = Annotated[Optional[list[str]], typer.Option("--item", "-i", help="Configuration item (repeat).")]


# Every date-time option here: a bare date means midnight of that day on the plant's wall clock (the
# policy's time zone for the environment), not UTC midnight; through --url the plant's zone is the
# server's to know, so a bare date is refused there.
DATE_HELP = " A bare date (2026-12-01) means midnight plant time (the policy's time zone; not with --url)."
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _when(client, value: str | None, option: str, env: str | list[str] | None = None) -> str | None:
    """A bare date as the instant it stands for (the rule is the service's: ``schedule.plant_midnight``)."""
    if not value or not _BARE_DATE.fullmatch(value):
        return value
    rt = getattr(client, "rt", None)
    if rt is None:
        usage(f"{option} {value}: give the time and its offset (e.g. {value}T00:00+01:00); through --url a bare "
              "date is refused, as the plant's time zone is the server's")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        usage(f"{option} {value}: not a date (YYYY-MM-DD)")
    from ..services.schedule import plant_midnight  # the local client's: the services are loaded already

    return plant_midnight(rt.policy, day, [env] if isinstance(env, str) else env or []).isoformat()


def _print_slot(slot: dict, json_out: bool) -> None:
    if json_out:
        emit_json(slot)
        return
    if slot["allowed"] and slot["start"]:
        w = slot["window"]
        where = escape(f" in window {w['name']} ({w['local_start'][11:16]}–{w['local_end'][11:16]} {w['timezone']})"
                       ) if w else ""
        local = escape(plant_time(slot.get("local_start"), slot.get("local_end"), slot.get("timezone")))
        console.print(f"[bold green]allowed[/] {slot['start']} → {slot['end']}{local}{where}", highlight=False)
    else:
        console.print(f"[bold red]not allowed[/] {slot['start'] or ''}", highlight=False)
    for r in slot["reasons"]:
        console.print(f"  - {escape(r['message'])} [dim]({r['code']})[/]", highlight=False)


@schedule_app.command("next-slot")
def next_slot(
    env: Env,
    duration: Annotated[str, typer.Option(help="How long: 90m, 1h30m, 45.")],
    after: Annotated[Optional[str], typer.Option(help="Earliest start (ISO 8601); default now." + DATE_HELP)] = None,
    change: Annotated[Optional[str], typer.Option(help="Plan for this change: its items, type, and free of "
                                                       "conflicts with other changes.")] = None,
    items: ItemOpt = None,
    emergency: Annotated[bool, typer.Option(help="Plan as an emergency change.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """The earliest start satisfying every window, blackout, freeze and other change's slot."""
    if not state.url:  # locally, first the path without SQLAlchemy or pydantic; it declines what it is unsure of
        from ..services.schedule_quick import next_slot_quick

        slot = next_slot_quick(state.person, {"environment": env, "duration": duration, "after": after,
                                              "change": change, "items": items or [], "emergency": emergency})
        if slot is not None:
            _print_slot(slot, json_out)
            raise typer.Exit(0 if slot["allowed"] else 1)
    client = state.client()
    payload = {"environment": env, "duration": duration, "after": _when(client, after, "--after", env),
               "change": change,
               "items": items or [], "emergency": emergency}
    slot = _call(lambda: client.next_slot({k: v for k, v in payload.items() if v is not None}))
    _print_slot(slot, json_out)
    raise typer.Exit(0 if slot["allowed"] else 1)


@schedule_app.command("explain")
def explain(
    env: Env,
    at: Annotated[str, typer.Option(help="Start (ISO 8601)." + DATE_HELP)],
    duration: Annotated[str, typer.Option(help="How long: 90m, 1h30m, 45.")],
    items: ItemOpt = None,
    emergency: Annotated[bool, typer.Option(help="As an emergency change.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Whether a change may run at this time for this long, with every reason. Exit 1 when not."""
    client = state.client()
    when = _when(client, at, "--at", env)
    slot = _call(lambda: client.explain({"environment": env, "at": when, "duration": duration,
                                         "items": items or [], "emergency": emergency}))
    _print_slot(slot, json_out)
    raise typer.Exit(0 if slot["allowed"] else 1)


def calendar(
    start: Annotated[Optional[str], typer.Option("--from", help="Start date or instant; default now." + DATE_HELP)] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="End date or instant; default 30 days later." + DATE_HELP)] = None,
    env: Annotated[Optional[str], typer.Option("--env", help="Only this environment.")] = None,
    ics: Annotated[Optional[Path], typer.Option("--ics", help="Write an iCalendar file here.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Windows, blackouts, freezes and scheduled changes, with conflicts."""
    client = state.client()
    params = {k: v for k, v in {"from": _when(client, start, "--from", env), "to": _when(client, end, "--to", env),
                                "environment": env}.items() if v}
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
    start: Annotated[str, typer.Option("--from", help="Start (date or ISO 8601)." + DATE_HELP)],
    end: Annotated[str, typer.Option("--to", help="End (date or ISO 8601)." + DATE_HELP)],
    reason: Annotated[str, typer.Option(help="Why (shown to everyone whose change it blocks).")],
    env: Annotated[Optional[list[str]], typer.Option("--env", help="Only these environments (repeat).")] = None,
    items: ItemOpt = None,
    emergency_override: Annotated[bool, typer.Option(help="Emergency changes may override it.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Freeze changes between two instants (change managers)."""
    client = state.client()
    result = _call(lambda: client.add_freeze({"name": name, "start": _when(client, start, "--from", env),
                                              "end": _when(client, end, "--to", env), "reason": reason,
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
    start: Annotated[Optional[str], typer.Option("--from", help="Start." + DATE_HELP)] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="End." + DATE_HELP)] = None,
    json_out: JsonOpt = False,
) -> None:
    client = state.client()
    params = {k: v for k, v in {"from": _when(client, start, "--from"), "to": _when(client, end, "--to")}.items() if v}
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
