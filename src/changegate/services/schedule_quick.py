"""The local ``schedule next-slot`` without SQLAlchemy or pydantic: the plain policy entry and the bare driver.

Issue 13 asks a local next-slot for at most three times a bare ``import typer``; importing SQLAlchemy and
pydantic alone costs more. This path answers from the policy's plain entry (``policy_quick.py``, written
after a full validation of the same file content) and SQLite's own driver (``db/bare.py``), with the same
engine and the same rules as ``schedule.next_slot``. It answers only when it is sure to give what the full
path gives: for anything else (a URL other than a plain SQLite file, a database not at the newest
revision, an input the boundary models might read differently, a person unknown or not allowed to read
changes, an unknown environment, a change given, a question for the CMDB, no plain entry yet) it returns
None and the caller takes the full path, which gives the answer or the error with its audit record.
``tests/schedule_quick`` checks that both paths agree.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from ..core.policy.durations import parse_minutes
from ..core.schedule import engine

HORIZON = timedelta(days=366)
# A zero-downtime deploy still happens at an instant: for conflicts it holds its items a minute.
MIN_HOLD = timedelta(minutes=1)

_PREFIX = "CHANGEGATE_"
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_DURATION = re.compile(r"[0-9]{1,6}|(?:[0-9]{1,6}[dhm]){1,3}")
MAX_ITEMS = 1000


def adhoc_freezes(rows) -> list[engine.AdhocFreeze]:
    """Stored freezes (read rows of any of the readers) as the engine's ad-hoc freezes."""
    return [
        engine.AdhocFreeze(name=f.name, start=f.starts_at, end=f.ends_at, environments=tuple(f.environments),
                           items=tuple(f.items), emergency_override=f.emergency_override, reason=f.reason)
        for f in rows
    ]


# --- what Settings() would give, for the three settings read here ------------------------------------


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(_PREFIX + name)


def _plain_environment(environ: Mapping[str, str]) -> bool:
    """Settings reads CHANGEGATE_* in any letter case: the quick path only takes upper-case names."""
    return all(k == k.upper() for k in environ if k.upper().startswith(_PREFIX))


def _locations(environ: Mapping[str, str]) -> tuple[str, Path, Path] | None:
    """(database URL, policy file, cache folder) as ``settings.Settings`` resolves them; None when not plain."""
    from platformdirs import user_cache_dir, user_data_dir

    if not _plain_environment(environ):
        return None
    data = Path(user_data_dir("changegate"))
    url = _setting(environ, "DATABASE_URL") or f"sqlite:///{data / 'changegate.db'}"
    cache = _setting(environ, "CACHE_DIR")
    if cache is None:
        cache = user_cache_dir("changegate")
    if cache in ("", "."):
        return None  # no policy cache: the full path
    policy = _setting(environ, "POLICY")
    if policy is None:
        user_policy = data / "policy.yaml"
        policy = user_policy if user_policy.exists() else Path(__file__).resolve().parent.parent / "policy" / "default.yaml"
    return url, Path(policy), Path(cache)


# --- the inputs, read only where the boundary models would read them the same ------------------------


def _line(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length and value.isascii() and value.isprintable() \
        and value == value.strip()


def _query(args: Mapping[str, Any], sites: dict) -> tuple[str, int, datetime | None, list[str], bool] | None:
    environment, duration, after = args.get("environment"), args.get("duration"), args.get("after")
    items, emergency = args.get("items") or [], bool(args.get("emergency"))
    if args.get("change") or not _line(environment, 64) or environment not in sites:
        return None
    if not isinstance(duration, str) or not _DURATION.fullmatch(duration):
        return None
    if after is not None and (not isinstance(after, str) or not _INSTANT.fullmatch(after)):
        return None
    if len(items) > MAX_ITEMS or not all(_line(i, 200) for i in items):
        return None
    try:  # well shaped but impossible (30 February, 25:00): the full path reports it as the boundary does
        start = datetime.fromisoformat(after).astimezone(timezone.utc) if after else None
    except ValueError:
        return None
    return environment, parse_minutes(duration), start, list(items), emergency


# --- the answer, as SlotOut's JSON ------------------------------------------------------------------


def _json_instant(value: datetime | None) -> str | None:
    """pydantic's JSON for an aware date-time: ISO 8601, a zero offset written Z."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def slot_json(environment: str, d: engine.ScheduleDecision, zone_name: str | None) -> dict:
    zone = ZoneInfo(zone_name) if zone_name else None
    w = d.window
    window = {"name": w.name, "timezone": w.timezone, "start": _json_instant(w.start), "end": _json_instant(w.end),
              "local_start": w.local_start.isoformat(), "local_end": w.local_end.isoformat()} if w else None
    return {"environment": environment, "allowed": d.allowed, "start": _json_instant(d.start),
            "end": _json_instant(d.end), "window": window,
            "reasons": [{"code": str(r.code), "message": r.message} for r in d.reasons], "timezone": zone_name,
            "local_start": _json_instant(d.start.astimezone(zone)) if zone and d.start else None,
            "local_end": _json_instant(d.end.astimezone(zone)) if zone and d.end else None}


# --- the use case ------------------------------------------------------------------------------------


def next_slot_quick(person: str | None, args: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                    now: datetime | None = None) -> dict | None:
    """``schedule.next_slot``'s answer as JSON, or None when only the full path can be sure of it."""
    from .policy_quick import load_quick

    places = _locations(os.environ if environ is None else environ)
    if places is None:
        return None
    url, policy_file, cache_dir = places
    policy = load_quick(policy_file, cache_dir)
    if policy is None or person not in policy.readers:
        return None
    query = _query(args, policy.sites)
    if query is None:
        return None
    from ..db.bare import BareScheduleReads, open_sqlite

    conn = open_sqlite(url)
    if conn is None:
        return None
    try:
        return _answer(BareScheduleReads(conn), policy, query, now or datetime.now(timezone.utc))
    finally:
        conn.close()


def _answer(reads, policy, query, now: datetime) -> dict | None:
    environment, minutes, after, items, emergency = query
    after = after or now
    mine = frozenset(items)
    held = reads.held_slots(after, after + HORIZON, environment=environment)
    if mine and any(not mine & o.items for o in held) and reads.has_cmdb_items():
        return None  # related through dependencies: a question for the CMDB's index (the full path)
    busy = [(o.start, o.start + max(o.downtime, MIN_HOLD)) for o in held if mine & o.items]
    ctx = engine.ScheduleContext(environment=environment, site=policy.sites[environment], items=mine,
                                 emergency=emergency)
    d = engine.next_slot(policy.schedule, ctx, timedelta(minutes=minutes), after,
                         adhoc_freezes(reads.active_freezes(after, after + HORIZON)), HORIZON, busy)
    return slot_json(environment, d, policy.schedule.timezone_for(environment))
