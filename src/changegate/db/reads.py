"""Reads in SQLAlchemy Core, without the ORM: what a read-only command needs, at a fraction of the start-up.

Importing ``sqlalchemy.orm``, the mapped classes and the repositories costs a local CLI call more than its
own query (issue 13). A read-only command that needs only these reads opens a ``ReadOnlyUnit``; services
receive the same ``ScheduleReads`` from the ORM ``UnitOfWork`` (over its session), so the API and the CLI
run the same queries. The tables are the ORM's own (``tables.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import Engine, select

from .tables import change_items, changes, freezes

# Changes that hold a slot: scheduled, or being implemented.
HOLDING_STATES = ("scheduled", "implementing")


@dataclass(frozen=True)
class HeldSlot:
    """A change's slot as the schedule sees it: when, how long, on which items."""

    change_id: int
    start: datetime
    downtime: timedelta
    items: frozenset[str]


class ScheduleReads:
    """The schedule's reads over anything that executes a statement: a Core connection or an ORM session."""

    def __init__(self, executor: Any):
        self._x = executor

    def active_freezes(self, start: datetime, end: datetime) -> list:
        """Freezes not lifted that overlap [start, end), earliest first (rows with the freeze's columns)."""
        f = freezes.c
        return list(self._x.execute(
            select(freezes).where(f.lifted_at.is_(None), f.starts_at < end, f.ends_at > start).order_by(f.starts_at)
        ).all())

    def held_slots(self, start: datetime, end: datetime, *, environment: str | None = None) -> list[HeldSlot]:
        """Slots of changes holding one (``HOLDING_STATES``) that overlap [start, end), earliest first."""
        c = changes.c
        stmt = (select(c.id, c.planned_start, c.estimated_downtime_minutes)
                .where(c.state.in_(HOLDING_STATES), c.planned_start.is_not(None), c.planned_start < end)
                .order_by(c.planned_start, c.id))
        if environment:
            stmt = stmt.where(c.environment == environment)
        # A slot ends at start + downtime: the lower bound is filtered here, as interval arithmetic differs
        # between SQLite and PostgreSQL.
        held = [(i, s, d) for i, s, m in self._x.execute(stmt) if s + (d := timedelta(minutes=m or 0)) > start]
        items: dict[int, set[str]] = {i: set() for i, _, _ in held}
        if items:
            rows = self._x.execute(select(change_items.c.change_id, change_items.c.name)
                                   .where(change_items.c.change_id.in_(list(items))))
            for change_id, name in rows:
                items[change_id].add(name)
        return [HeldSlot(i, s, d, frozenset(items[i])) for i, s, d in held]


class ReadOnlyUnit:
    """One read-only transaction in Core (one snapshot: REPEATABLE READ on PostgreSQL).

    It writes one thing, as ``UnitOfWork`` does: a refusal carrying an audit record (a ``Forbidden`` from
    ``Context.require``) is recorded in a short transaction of its own, through the unit of work's own
    recording (the ORM is imported then, on that rare path only)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]):
        self._engine = engine
        self._clock = clock

    def __enter__(self) -> "ReadOnlyUnit":
        self._conn = self._engine.connect()
        if self._engine.dialect.name == "postgresql":
            self._conn.execution_options(isolation_level="REPEATABLE READ")
        self._conn.begin()
        self.schedule_reads = ScheduleReads(self._conn)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()
        record = getattr(exc, "audit", None)
        if record is not None:
            from .uow import UnitOfWork

            UnitOfWork(self._engine, write=False, clock=self._clock)._record_refusal(record)
