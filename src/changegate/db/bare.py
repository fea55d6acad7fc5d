"""The schedule's reads on the bare SQLite driver (stdlib ``sqlite3``), for the local ``schedule next-slot``.

Importing SQLAlchemy alone costs a local CLI call more than twice a bare ``import typer`` (issue 13's goal
for next-slot is three times). These are the queries of ``reads.ScheduleReads`` written for the driver,
with the two conversions SQLAlchemy makes on SQLite: ``UTCDateTime`` columns are naive UTC text
(``YYYY-MM-DD HH:MM:SS.ffffff``, compared as text, so bound instants take that form too) and JSON columns
are JSON text. ``tests/schedule_quick`` checks they return what ``ScheduleReads`` returns.

Only SQLite: on PostgreSQL the command reads through SQLAlchemy (``reads.py``), as ``open_sqlite`` says by
returning None. Anything this module is unsure of (a URL with options, an in-memory database, a file that
is missing) also returns None, and the caller takes the full path.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

# Changes that hold a slot: scheduled, or being implemented.
HOLDING_STATES = ("scheduled", "implementing")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+)['\"]?", re.MULTILINE)
_SQLITE_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?#%]+)$")


@dataclass(frozen=True)
class HeldSlot:
    """A change's slot as the schedule sees it: when, how long, on which items."""

    change_id: int
    start: datetime
    downtime: timedelta
    items: frozenset[str]


@dataclass(frozen=True)
class FreezeRow:
    """A stored ad-hoc freeze: the columns the schedule reads."""

    name: str
    starts_at: datetime
    ends_at: datetime
    environments: list
    items: list
    emergency_override: bool
    reason: str


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision: the one no other migration names as its ``down_revision`` (a linear history)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for key, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if key == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, found {sorted(heads) or 'none'}")
    return heads.pop()


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL; None for anything else (options, memory, PostgreSQL)."""
    match = _SQLITE_URL.match(url)
    path = match and match["path"]
    if not path or path.startswith(("~", "file:", ":memory:")):
        return None
    return Path(path)


def open_sqlite(url: str) -> sqlite3.Connection | None:
    """A read-only connection to the migrated SQLite file at ``url``, in one read transaction; None when the
    URL is not a plain file URL, or the file is missing, unreadable or not at the newest revision."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only=1")
        conn.execute("BEGIN")  # one snapshot for every read, as the Core unit's transaction
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        if revision == head_revision():
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None


def _text(instant: datetime) -> str:
    """An instant as SQLAlchemy stores a ``UTCDateTime`` on SQLite (naive UTC text)."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _instant(text: str) -> datetime:
    """As ``UTCDateTime`` reads it: naive text is UTC, text with an offset is converted."""
    instant = datetime.fromisoformat(text)
    return instant.replace(tzinfo=timezone.utc) if instant.tzinfo is None else instant.astimezone(timezone.utc)


class BareScheduleReads:
    """``reads.ScheduleReads``'s queries on a ``sqlite3`` connection."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def active_freezes(self, start: datetime, end: datetime) -> list[FreezeRow]:
        """Freezes not lifted that overlap [start, end), earliest first."""
        rows = self._conn.execute(
            "SELECT name, starts_at, ends_at, environments, items, emergency_override, reason FROM freezes "
            "WHERE lifted_at IS NULL AND starts_at < ? AND ends_at > ? ORDER BY starts_at", (_text(end), _text(start)))
        return [FreezeRow(name, _instant(a), _instant(b), json.loads(envs), json.loads(items), bool(override), reason)
                for name, a, b, envs, items, override, reason in rows]

    def held_slots(self, start: datetime, end: datetime, *, environment: str | None = None) -> list[HeldSlot]:
        """Slots of changes holding one (``HOLDING_STATES``) that overlap [start, end), earliest first."""
        sql = ("SELECT id, planned_start, estimated_downtime_minutes FROM changes WHERE state IN (?, ?) "
               "AND planned_start IS NOT NULL AND planned_start < ?")
        params: list = [*HOLDING_STATES, _text(end)]
        if environment:
            sql, params = sql + " AND environment = ?", [*params, environment]
        held = []
        for i, s, m in self._conn.execute(sql + " ORDER BY planned_start, id", params):
            s, d = _instant(s), timedelta(minutes=m or 0)
            if s + d > start:  # the lower bound, as ScheduleReads filters it
                held.append((i, s, d))
        items: dict[int, set[str]] = {i: set() for i, _, _ in held}
        if items:
            marks = ", ".join("?" * len(items))
            for change_id, name in self._conn.execute(
                    f"SELECT change_id, name FROM change_items WHERE change_id IN ({marks})", list(items)):
                items[change_id].add(name)
        return [HeldSlot(i, s, d, frozenset(items[i])) for i, s, d in held]

    def has_cmdb_items(self) -> bool:
        return self._conn.execute("SELECT 1 FROM cmdb_items LIMIT 1").fetchone() is not None
