"""Reads in SQLAlchemy Core, without the ORM: what a read-only command needs, at a fraction of the start-up.

Importing ``sqlalchemy.orm``, the mapped classes and the repositories costs a local CLI call more than its
own query (issue 13). A read-only command that needs only these reads opens a ``ReadOnlyUnit``; services
receive the same ``ScheduleReads`` from the ORM ``UnitOfWork`` (over its session), so the API and the CLI
run the same queries. The tables are the ORM's own (``tables.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import Engine, select

from .bare import HOLDING_STATES, HeldSlot  # shared with the bare driver's reads (bare.py)
from .tables import change_items, changes, freezes

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


# --- the CMDB's raw reads: the graph index and impact (services/cmdb_index.py), with or without the ORM -----

_CHUNK = 5_000  # names or ids per IN (…): well under both engines' parameter limits


def _marks(values: list) -> str:
    return ", ".join("?" * len(values))


def _code(column: str, names: list[str]) -> str:
    """SQL giving the position of ``column``'s value in ``names``, -1 for any other (names are policy type
    names and criticalities, quoted inline: a statement that stays the same, with no parameters to bind)."""
    if not names:
        return "-1"
    cases = " ".join(f"WHEN '{str(name).replace(chr(39), chr(39) * 2)}' THEN {i}" for i, name in enumerate(names))
    return f"CASE {column} {cases} ELSE -1 END"


def _chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


class CmdbReads:
    """What an impact query and the graph index read, straight through the driver's cursor: through the ORM,
    building and caching the statements cost five times the queries themselves (a small impact's p50,
    bench_cmdb). ``CmdbRepository`` has them over its session; ``ReadOnlyUnit`` over its Core connection."""

    def _connection(self) -> Any:
        raise NotImplementedError

    def generation(self) -> int:
        return self._fetch("SELECT generation FROM cmdb_state WHERE id = 1", ())[0][0]

    def snapshot(self) -> int:
        """The generation, read so that the CMDB reads after it in this transaction see that generation's rows
        (a ``ReadOnlyUnit`` is one snapshot already; ``CmdbRepository`` makes a unit of work's one)."""
        return self.generation()

    def own_writes(self) -> bool:
        """Whether this transaction wrote to the CMDB (what it reads is then not yet committed)."""
        return False

    def writes_between(self, after: int, upto: int, limit: int) -> list[tuple] | None:
        """(generation, op, a, b, kind, criticality) of the generations in (after, upto], oldest first; None
        when there are more than ``limit`` rows or the log no longer holds every one of those generations."""
        rows = self._fetch("SELECT generation, op, a, b, kind, criticality FROM cmdb_writes WHERE generation > ? "
                           "AND generation <= ? ORDER BY generation, id LIMIT ?", (after, upto, limit + 1))
        if len(rows) > limit or {r[0] for r in rows} != set(range(after + 1, upto + 1)):
            return None
        return rows

    def index_key(self) -> Any:
        """What identifies this database connection pool in this process (one index per pool)."""
        return self._connection().engine.pool

    def ids_by_names(self, names: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for sql, params in self._in("SELECT name, id FROM cmdb_items WHERE name", list(names)):
            found.update(self._fetch(sql, params))
        return found

    def names_by_ids(self, ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
        """id → (name, type, criticality)."""
        found: dict[int, tuple[str, str, str]] = {}
        wanted = [int(i) for i in ids]
        for sql, params in self._in("SELECT id, name, type, criticality FROM cmdb_items WHERE id", wanted):
            for row in self._fetch(sql, params):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def _in(self, sql: str, values: list) -> Iterator[tuple[str, list]]:
        """``sql`` (ending in a column) completed to match any of ``values``: on PostgreSQL one array parameter
        (``= ANY``: binding and planning 800 separate parameters cost more than the query, bench_cmdb), on
        SQLite chunks of ``IN (?, …)``."""
        if not values:
            return
        if self._connection().dialect.name == "postgresql":
            yield f"{sql} = ANY(?)", [values]
            return
        for chunk in _chunks(values):
            yield f"{sql} IN ({_marks(chunk)})", chunk

    def _fetch(self, sql: str, params) -> list[tuple]:
        conn = self._connection()
        if conn.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def has_items(self) -> bool:
        return bool(self._fetch("SELECT 1 FROM cmdb_items LIMIT 1", ()))

    def graph_rows(self, item_types: list[str], relation_types: list[str], criticalities: list[str],
                   chunk: int = 500_000) -> tuple[Iterator[list[tuple]], Iterator[list[tuple]]]:
        """Every item as (id, type code, criticality code) and every relation as (source_id, target_id, type
        code), in chunks, codes being positions in the lists given (-1: a name not listed, see
        ``unlisted_types``). Integers only, straight from the driver's cursor: at a million items, building
        Python strings and SQLAlchemy rows would cost more than the index build itself."""
        items = (f"SELECT id, {_code('type', item_types)}, {_code('criticality', criticalities)} FROM cmdb_items")
        relations = f"SELECT source_id, target_id, {_code('type', relation_types)} FROM cmdb_relations"
        return self._chunks_of(items, chunk), self._chunks_of(relations, chunk)

    def unlisted_types(self, table: str, listed: list[str]) -> list[str]:
        """The types in ``cmdb_items`` or ``cmdb_relations`` that are not in ``listed`` (rare: a policy that
        dropped a type still stored)."""
        rows = self._fetch(f"SELECT DISTINCT type FROM {table} WHERE type NOT IN ({_marks(listed)})", listed) \
            if listed else self._fetch(f"SELECT DISTINCT type FROM {table}", ())
        return sorted(r[0] for r in rows)

    def _chunks_of(self, sql: str, size: int) -> Iterator[list[tuple]]:
        cursor = self._connection().connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()


class CoreCmdbReads(CmdbReads):
    def __init__(self, conn: Any):
        self._conn = conn

    def _connection(self) -> Any:
        return self._conn


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
        self.cmdb = CoreCmdbReads(self._conn)
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
