"""The CMDB's queries: items, relations, the generation counter, bulk inserts and the graph load."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from ..models import CmdbCuration, CmdbItem, CmdbRelation, CmdbState, CmdbWrite
from .base import Repository

_CHUNK = 5_000  # names or ids per IN (…): well under both engines' parameter limits
KEPT_GENERATIONS = 10_000  # the write log keeps this many generations: an index further behind is rebuilt


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


class CmdbRepository(Repository[CmdbItem]):
    model = CmdbItem

    # --- the generation: every CMDB write transaction bumps it ------------------------------------

    def bump_generation(self, writes: list[tuple[str, int, int, str, str]]) -> int:
        """Called by every writing use case with what it changed, (op, a, b, kind, criticality) as
        ``cmdb_writes`` holds them; returns the new generation. On PostgreSQL the row lock also orders CMDB
        writers, so generations commit in order."""
        generation = self.s.execute(update(CmdbState).where(CmdbState.id == 1)
                                    .values(generation=CmdbState.generation + 1)
                                    .returning(CmdbState.generation)).scalar_one()
        self.s.execute(insert(CmdbWrite), [dict(generation=generation, op=op, a=a, b=b, kind=kind,
                                                criticality=criticality) for op, a, b, kind, criticality in writes])
        if generation % 100 == 0:  # trim now and then: one indexed range delete
            self.s.execute(delete(CmdbWrite).where(CmdbWrite.generation <= generation - KEPT_GENERATIONS))
        return generation

    def generation(self) -> int:
        return self._fetch("SELECT generation FROM cmdb_state WHERE id = 1", ())[0][0]

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
        return self.s.get_bind().pool

    # --- items ------------------------------------------------------------------------------------

    def by_name(self, name: str) -> CmdbItem | None:
        return self.s.execute(select(CmdbItem).where(CmdbItem.name == name)).scalar_one_or_none()

    def by_names(self, names: Iterable[str]) -> dict[str, CmdbItem]:
        found: dict[str, CmdbItem] = {}
        for chunk in _chunks(list(names)):
            found.update((i.name, i) for i in self.s.execute(select(CmdbItem).where(CmdbItem.name.in_(chunk))).scalars())
        return found

    # The three lookups of every impact query go straight to the driver: through the ORM, building and
    # caching the statements cost five times the queries themselves (a small impact's p50, bench_cmdb).

    def ids_by_names(self, names: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(names)):
            found.update(self._fetch(f"SELECT name, id FROM cmdb_items WHERE name IN ({_marks(chunk)})", chunk))
        return found

    def names_by_ids(self, ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
        """id → (name, type, criticality)."""
        found: dict[int, tuple[str, str, str]] = {}
        for chunk in _chunks([int(i) for i in ids]):
            for row in self._fetch(f"SELECT id, name, type, criticality FROM cmdb_items WHERE id IN ({_marks(chunk)})",
                                   chunk):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def _fetch(self, sql: str, params) -> list[tuple]:
        conn = self.s.connection()
        if conn.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql, tuple(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def all_names(self) -> list[str]:
        return list(self.s.execute(select(CmdbItem.name)).scalars())

    def names_starting(self, prefix: str, limit: int) -> list[str]:
        """Names that start with ``prefix`` (a range of the unique index, not a scan)."""
        return list(self.s.execute(select(CmdbItem.name).where(CmdbItem.name >= prefix,
                                                               CmdbItem.name < prefix + "\U0010ffff")
                                   .order_by(CmdbItem.name).limit(limit)).scalars())

    def has_items(self) -> bool:
        return self.s.execute(select(CmdbItem.id).limit(1)).first() is not None

    def count(self) -> int:
        return self.s.execute(select(func.count()).select_from(CmdbItem)).scalar_one()

    def search(self, text: str | None, types: list[str], limit: int, offset: int) -> tuple[list[CmdbItem], int]:
        conditions = []
        if types:
            conditions.append(CmdbItem.type.in_(types))
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(or_(func.lower(CmdbItem.name).like(pattern, escape="\\"),
                                  func.lower(CmdbItem.description).like(pattern, escape="\\"),
                                  func.lower(CmdbItem.owner).like(pattern, escape="\\")))
        total = self.s.execute(select(func.count()).select_from(CmdbItem).where(*conditions)).scalar_one()
        rows = self.s.execute(select(CmdbItem).where(*conditions).order_by(CmdbItem.name)
                              .limit(limit).offset(offset)).scalars().all()
        return list(rows), total

    def insert_items(self, rows: list[dict]) -> None:
        """Bulk insert straight through the driver's executemany: an import of a million items would spend
        more in SQLAlchemy's per-row work than in the database."""
        self._executemany("INSERT INTO cmdb_items (name, type, owner, environment, criticality, description, "
                          "attributes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          ((r["name"], r["type"], r["owner"], r["environment"], r["criticality"], r["description"],
                            json.dumps(r["attributes"], sort_keys=True, ensure_ascii=False)) for r in rows))

    def update_items(self, rows: list[dict]) -> None:
        """Bulk update by primary key: each dict holds ``id`` and the fields to set."""
        for chunk in _chunks(rows, 50_000):
            self.s.execute(update(CmdbItem), chunk)

    def delete_item(self, item: CmdbItem) -> None:
        self.s.execute(delete(CmdbRelation).where(or_(CmdbRelation.source_id == item.id,
                                                      CmdbRelation.target_id == item.id)))
        self.s.delete(item)
        self.s.flush()

    # --- relations --------------------------------------------------------------------------------

    def relations(self, *, item_id: int | None = None, types: list[str] = (), limit: int = 100,
                  offset: int = 0) -> tuple[list[tuple[int, str, str, str]], int]:
        """(id, source name, target name, type), ordered by id, with the total."""
        source, target = aliased(CmdbItem), aliased(CmdbItem)
        conditions = []
        if item_id is not None:
            conditions.append(or_(CmdbRelation.source_id == item_id, CmdbRelation.target_id == item_id))
        if types:
            conditions.append(CmdbRelation.type.in_(list(types)))
        total = self.s.execute(select(func.count()).select_from(CmdbRelation).where(*conditions)).scalar_one()
        rows = self.s.execute(
            select(CmdbRelation.id, source.name, target.name, CmdbRelation.type)
            .join(source, source.id == CmdbRelation.source_id).join(target, target.id == CmdbRelation.target_id)
            .where(*conditions).order_by(CmdbRelation.id).limit(limit).offset(offset)).all()
        return [tuple(r) for r in rows], total

    def relation(self, source_id: int, target_id: int, type_: str) -> CmdbRelation | None:
        return self.s.execute(select(CmdbRelation).where(
            CmdbRelation.source_id == source_id, CmdbRelation.target_id == target_id,
            CmdbRelation.type == type_)).scalar_one_or_none()

    def add_relation(self, source_id: int, target_id: int, type_: str) -> CmdbRelation:
        return self.add(CmdbRelation(source_id=source_id, target_id=target_id, type=type_))

    def delete_relation(self, relation: CmdbRelation) -> None:
        self.s.delete(relation)
        self.s.flush()

    def existing_triples(self, source_ids: Iterable[int]) -> set[tuple[int, int, str]]:
        found: set[tuple[int, int, str]] = set()
        for chunk in _chunks(sorted(set(source_ids))):
            found.update(tuple(r) for r in self.s.execute(
                select(CmdbRelation.source_id, CmdbRelation.target_id, CmdbRelation.type)
                .where(CmdbRelation.source_id.in_(chunk))))
        return found

    def insert_relations(self, rows: list[tuple[int, int, str]]) -> None:
        """(source_id, target_id, type) rows, through the driver's executemany."""
        self._executemany("INSERT INTO cmdb_relations (source_id, target_id, type) VALUES (?, ?, ?)", rows)

    def _executemany(self, sql: str, rows: Iterable[tuple], batch: int = 50_000) -> None:
        conn = self.s.connection()
        if conn.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            chunk: list[tuple] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= batch:
                    cursor.executemany(sql, chunk)
                    chunk = []
            if chunk:
                cursor.executemany(sql, chunk)
        finally:
            cursor.close()

    # --- curation of a change's impact -------------------------------------------------------------

    def curations(self, change_id: int) -> list[CmdbCuration]:
        return list(self.s.execute(select(CmdbCuration).where(CmdbCuration.change_id == change_id)
                                   .order_by(CmdbCuration.item)).scalars())

    def curation(self, change_id: int, item: str) -> CmdbCuration | None:
        return self.s.execute(select(CmdbCuration).where(CmdbCuration.change_id == change_id,
                                                         CmdbCuration.item == item)).scalar_one_or_none()

    # --- reading everything: the graph index and export --------------------------------------------

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
        cursor = self.s.connection().connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def iter_items(self, batch: int = 10_000) -> Iterator[CmdbItem]:
        return self.s.execute(select(CmdbItem).order_by(CmdbItem.name).execution_options(yield_per=batch)).scalars()

    def iter_relations(self, batch: int = 10_000) -> Iterator[tuple[str, str, str]]:
        source, target = aliased(CmdbItem), aliased(CmdbItem)
        return self.s.execute(
            select(source.name, target.name, CmdbRelation.type)
            .join(source, source.id == CmdbRelation.source_id).join(target, target.id == CmdbRelation.target_id)
            .order_by(source.name, target.name, CmdbRelation.type).execution_options(yield_per=batch))


__all__ = ["CmdbRepository"]
