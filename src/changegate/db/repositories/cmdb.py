"""The CMDB's queries: items, relations, the generation counter, bulk inserts and the graph load."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from ..engine import SINGLE_READ_OPTION, WRITE_OPTION
from ..models import CmdbCuration, CmdbItem, CmdbRelation, CmdbState, CmdbWrite
from ..reads import CmdbReads, _chunks
from .base import Repository

KEPT_GENERATIONS = 10_000  # the write log keeps this many generations: an index further behind is rebuilt


class CmdbRepository(CmdbReads, Repository[CmdbItem]):
    """The ORM writes and reads; the raw reads of an impact query are ``CmdbReads``'s (db/reads.py)."""

    model = CmdbItem
    _wrote = False
    _seen: tuple[Any, int] | None = None  # (the transaction, the generation its snapshot reads)

    def _connection(self):
        return self.s.connection()

    # --- one state of the CMDB per use case: the graph index's generation and the rows it holds ----------

    def snapshot(self) -> int:
        """The generation, read so that every CMDB read after it in this unit of work sees that generation's
        rows: the graph index is labelled with what it holds (services/cmdb_index.py). Call it before the use
        case's first CMDB read.

        - A transaction that is one snapshot already (SQLite's read or write transaction; PostgreSQL REPEATABLE
          READ, ``uow.read_snapshot()``): the generation is read as it is.
        - A one-statement read outside a transaction (the API's GET of a change, ``SINGLE_READ_OPTION`` or
          AUTOCOMMIT): it wrote nothing, so it ends, and a snapshot begins (REPEATABLE READ on PostgreSQL).
        - A PostgreSQL READ COMMITTED transaction (a writing unit of work): each statement reads what is
          committed when it starts, so the generation row is read FOR SHARE; CMDB writers, which update that
          row, then wait for this transaction to end, and what it reads stays that generation's."""
        transaction = self.s.get_transaction()
        if transaction is not None and self._seen is not None and self._seen[0] is transaction:
            return self._seen[1]  # read already in this transaction, which no other CMDB writer can move
        conn = self.s.connection() if self.s.in_transaction() else None
        postgresql = self.s.get_bind().dialect.name == "postgresql"
        if conn is not None and _outside_a_transaction(conn.get_execution_options()):
            self.s.rollback()
            conn = None
        if conn is None:  # a writing unit of work stays READ COMMITTED (its writes must meet no serialization error)
            reading = postgresql and not self.s.get_bind().get_execution_options().get(WRITE_OPTION, False)
            conn = self.s.connection(execution_options={"isolation_level": "REPEATABLE READ"} if reading else {})
        level = conn.get_execution_options().get("isolation_level", "READ COMMITTED")
        if postgresql and level not in ("REPEATABLE READ", "SERIALIZABLE"):
            generation = self._fetch("SELECT generation FROM cmdb_state WHERE id = 1 FOR SHARE", ())[0][0]
        else:
            generation = self.generation()
        self._seen = (self.s.get_transaction(), generation)
        return generation

    def own_writes(self) -> bool:
        return self._wrote

    # --- the generation: every CMDB write transaction bumps it ------------------------------------

    def bump_generation(self, writes: list[tuple[str, int, int, str, str]]) -> int:
        """Called by every writing use case with what it changed, (op, a, b, kind, criticality) as
        ``cmdb_writes`` holds them; returns the new generation. On PostgreSQL the row lock also orders CMDB
        writers, so generations commit in order."""
        writes = writes or [("none", 0, 0, "", "")]  # an edit the index does not hold (owner, attributes)
        self._wrote = True  # until the commit, what this unit of work reads of the CMDB is its own
        self._seen = None  # its own write moves the generation it reads
        generation = self.s.execute(update(CmdbState).where(CmdbState.id == 1)
                                    .values(generation=CmdbState.generation + 1)
                                    .returning(CmdbState.generation)).scalar_one()
        self.s.execute(insert(CmdbWrite), [dict(generation=generation, op=op, a=a, b=b, kind=kind,
                                                criticality=criticality) for op, a, b, kind, criticality in writes])
        if generation % 100 == 0:  # trim now and then: one indexed range delete
            self.s.execute(delete(CmdbWrite).where(CmdbWrite.generation <= generation - KEPT_GENERATIONS))
        return generation

    # --- items ------------------------------------------------------------------------------------

    def by_name(self, name: str) -> CmdbItem | None:
        return self.s.execute(select(CmdbItem).where(CmdbItem.name == name)).scalar_one_or_none()

    def by_names(self, names: Iterable[str]) -> dict[str, CmdbItem]:
        found: dict[str, CmdbItem] = {}
        for chunk in _chunks(list(names)):
            found.update((i.name, i) for i in self.s.execute(select(CmdbItem).where(CmdbItem.name.in_(chunk))).scalars())
        return found

    def all_names(self) -> list[str]:
        return list(self.s.execute(select(CmdbItem.name)).scalars())

    def names_starting(self, prefix: str, limit: int) -> list[str]:
        """Names that start with ``prefix`` (a range of the unique index, not a scan)."""
        return list(self.s.execute(select(CmdbItem.name).where(CmdbItem.name >= prefix,
                                                               CmdbItem.name < prefix + "\U0010ffff")
                                   .order_by(CmdbItem.name).limit(limit)).scalars())

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

    def iter_items(self, batch: int = 10_000) -> Iterator[CmdbItem]:
        return self.s.execute(select(CmdbItem).order_by(CmdbItem.name).execution_options(yield_per=batch)).scalars()

    def iter_relations(self, batch: int = 10_000) -> Iterator[tuple[str, str, str]]:
        source, target = aliased(CmdbItem), aliased(CmdbItem)
        return self.s.execute(
            select(source.name, target.name, CmdbRelation.type)
            .join(source, source.id == CmdbRelation.source_id).join(target, target.id == CmdbRelation.target_id)
            .order_by(source.name, target.name, CmdbRelation.type).execution_options(yield_per=batch))


def _outside_a_transaction(options: dict) -> bool:
    """Whether a connection runs each statement on its own (see ``ChangeRepository.view``)."""
    return options.get("isolation_level") == "AUTOCOMMIT" or bool(options.get(SINGLE_READ_OPTION))


__all__ = ["CmdbRepository"]
