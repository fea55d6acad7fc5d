"""The hash-chained audit log: append under the head's lock, read a chain fast for verification."""

from __future__ import annotations

from datetime import datetime, timezone
import hashlib
from collections import defaultdict
from itertools import chain
from typing import Iterable, Iterator, NamedTuple, Sequence

from sqlalchemy import Integer, String, Text, bindparam, func, literal_column, select

from ...core.audit import AuditRecord, canonical_json, event_hash
from ...core.reconcile import ChangeRecord
from ..tables import UTCDateTime
from ..models import Approval, AuditEvent, AuditHead, Change, ChangeItem, Evidence, EvidenceBlob
from .base import Repository


class AuditRepository(Repository[AuditEvent]):
    model = AuditEvent

    def __init__(self, session):
        super().__init__(session)
        self._pending: list[tuple[str, ...]] = []

    def append(self, record: AuditRecord, now: datetime) -> None:
        """Queue an event: it is serialised now (so later edits of the objects it describes do not change
        it) and written by ``write_pending`` right before the unit of work commits, in the same
        transaction as the state change it describes."""
        self._pending.append((
            now.isoformat(timespec="microseconds"), record.actor, record.action, record.entity,
            canonical_json(record.before or {}), canonical_json(record.after or {}),
            canonical_json(record.detail or {}),
        ))

    def pending_count(self) -> int:
        """How many events are queued for this transaction."""
        return len(self._pending)

    def write_pending(self) -> None:
        """Append the queued events to the chain; the caller commits right after.

        The chain's head is locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's writer is alone
        already) only here, after every other write of the transaction is flushed: no ORM flush, no
        serialisation, no response building under it. Concurrent appenders queue on it, so the chain never
        forks. SQLite: three prepared statements and the hashing. PostgreSQL (up to ``_PG_APPEND_MAX`` events,
        nearly always): one statement locks the head,
        hashes, inserts and moves the head (``_PG_APPEND``), so the lock is held over one round trip and the
        commit instead of three round trips: under load each round trip also waits for the client's thread
        to be scheduled again, and the head admits one writer at a time (bench/README.md, "100 concurrent
        runs")."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self.s.flush()  # the rows first: nothing but the chain is written while the head is locked
        conn = self.s.connection()
        if conn.dialect.name == "postgresql" and len(pending) <= _PG_APPEND_MAX:
            conn.exec_driver_sql(_PG_APPEND, {name: [fields[i] for fields in pending]
                                              for i, name in enumerate(_PG_FIELDS)})
            return
        sql = _prepared(conn.dialect)
        seq, prev = conn.exec_driver_sql(sql.lock_head).one()
        rows = []
        for fields in pending:
            seq += 1
            digest = event_hash(prev, seq, *fields)
            rows.append(sql.event_params((seq, *fields, prev, digest)))
            prev = digest
        conn.exec_driver_sql(sql.insert_event, rows if len(rows) > 1 else rows[0])
        conn.exec_driver_sql(sql.update_head, sql.head_params(seq, prev))

    def for_entity(self, entity: str) -> list[AuditEvent]:
        return list(self.s.execute(
            select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.seq)
        ).scalars())

    def head(self) -> tuple[int, str]:
        row = self.s.execute(select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == 1)).one()
        return row[0], row[1]

    _CHAIN_COLUMNS = "seq, at, actor, action, entity, before, after, detail, prev_hash, hash"

    def iter_chain(self, first: int = 1, last: int | None = None, batch: int = 20_000) -> Iterator[tuple]:
        """Events ``first``..``last`` (default: to the end) in order, as plain tuples (the fast path
        for verification).

        Rows come straight from the driver's cursor, with no Python frame per row: SQLAlchemy's row
        objects would cost more than hashing the row does. SQLite streams one ordered range scan (the
        read transaction keeps it consistent); PostgreSQL reads keyset batches, so memory stays
        bounded. Consume it inside the unit of work: on SQLite it is the driver's cursor itself, whose
        read snapshot lasts until it is exhausted or dropped.
        """
        last = (1 << 62) if last is None else last
        return self._ordered(self._CHAIN_COLUMNS, "TRUE", first, last, batch)

    # A change event but a refused attempt, with what reconciliation reads of it: whether it carries a
    # snapshot, and the detail only of approval and evidence events (the others' is never parsed).
    # substr, not LIKE: SQLite's LIKE made this scan 70% slower.
    _TRAIL_COLUMNS = ("seq, action, entity, actor, CASE WHEN after = '{}' THEN 0 ELSE 1 END, "
                      "CASE WHEN substr(action, 1, 9) = 'approval.' OR action = 'evidence.attached' THEN detail END")
    _TRAIL_FILTER = "substr(entity, 1, 7) = 'change:' AND substr(action, length(action) - 7) <> '.refused'"

    def iter_change_trails(self, batch: int = 20_000) -> Iterator[tuple]:
        """(seq, action, entity, actor, has_snapshot, detail) of every change event but refused
        attempts, in seq order, streamed as ``iter_chain`` streams (consume it inside the unit of work)."""
        return self._ordered(self._TRAIL_COLUMNS, self._TRAIL_FILTER, 1, 1 << 62, batch)

    def _ordered(self, columns: str, condition: str, first: int, last: int, batch: int) -> Iterator[tuple]:
        conn = self.s.connection()
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.name == "sqlite":
            return dbapi.execute(f"SELECT {columns} FROM audit_events WHERE seq >= ? AND seq <= ? AND {condition} "
                                 f"ORDER BY seq", (first, last))

        columns, condition = columns.replace("%", "%%"), condition.replace("%", "%%")  # psycopg's placeholders

        def batches() -> Iterator[list[tuple]]:
            # Keyset batches, each an index range scan. (COPY … TO STDOUT read 6-9% faster in one
            # process, but its steady stream competes with the verifying processes for the CPUs,
            # and verification as a whole was a third slower with it on two CPUs.)
            after = first - 1
            with dbapi.cursor() as cursor:
                while True:
                    cursor.execute(f"SELECT {columns} FROM audit_events WHERE seq > %s AND seq <= %s AND {condition} "
                                   f"ORDER BY seq LIMIT %s", (after, last, batch))
                    rows = cursor.fetchall()
                    if not rows:
                        return
                    yield rows
                    after = rows[-1][0]

        return chain.from_iterable(batches())

    def next_seq(self, after: int) -> int | None:
        """The first stored event after ``after``, if any."""
        return self.s.execute(select(func.min(AuditEvent.seq)).where(AuditEvent.seq > after)).scalar_one()

    def hash_of(self, seq: int) -> str | None:
        return self.s.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq)).scalar_one_or_none()

    # --- what reconciliation compares the trails with ------------------------------------------------

    def afters(self, seqs: Iterable[int], chunk: int = 500) -> dict[int, str]:
        """The stored ``after`` snapshot of each of these events."""
        seqs, found = list(seqs), {}
        for i in range(0, len(seqs), chunk):
            found.update(self.s.execute(
                select(AuditEvent.seq, AuditEvent.after).where(AuditEvent.seq.in_(seqs[i:i + chunk]))).all())
        return found

    def last_change_id(self) -> int:
        return self.s.execute(select(func.max(Change.id))).scalar_one() or 0

    def change_records(self, first: int, last: int, columns: Sequence[str]) -> list[ChangeRecord]:
        """Changes ``first``..``last`` as stored, with ``columns`` of their row (the ones their
        snapshots mention), their items, approvals and evidence with the SHA-256 of its content.

        Read straight from the driver's cursor when every column is text, a number or a ``UTCDateTime``
        (converted here as the column type converts it): through SQLAlchemy the rows' processing cost
        reconciliation more than comparing them (bench_audit). Other column types go through SQLAlchemy."""
        table = Change.__table__
        known = [table.c[name] for name in columns if name in table.c and name != "id"]
        if not all(isinstance(c.type, _RAW_TYPES) for c in known):
            return self._change_records_core(first, last, known)
        conn = self.s.connection()
        fetch = _raw_fetch(conn)
        instants = {i for i, c in enumerate(known, 1) if isinstance(c.type, UTCDateTime)}
        as_utc = _sqlite_instant if conn.dialect.name == "sqlite" else _utc
        rows = fetch(f"SELECT id, {', '.join(c.name for c in known)} FROM changes WHERE id BETWEEN ? AND ?",
                     (first, last))
        items, approvals, evidence = defaultdict(list), defaultdict(list), defaultdict(list)
        for cid, name in fetch("SELECT change_id, name FROM change_items WHERE change_id BETWEEN ? AND ? "
                               "ORDER BY change_id, position", (first, last)):
            items[cid].append(name)
        for cid, role, approver, decision in fetch("SELECT change_id, role, approver, decision FROM approvals "
                                                   "WHERE change_id BETWEEN ? AND ?", (first, last)):
            approvals[cid].append((role, approver, decision))
        self._evidence_of(first, last, evidence)
        names = [c.name for c in known]
        records = []
        for row in rows:
            fields = dict(zip(names, row[1:]))
            for i in instants:
                fields[names[i - 1]] = as_utc(row[i])
            cid = row[0]
            records.append(ChangeRecord(cid, fields, items[cid], approvals[cid], evidence[cid]))
        return records

    def _evidence_of(self, first: int, last: int, evidence: dict) -> None:
        for cid, eid, sha, content in self.s.execute(
                select(Evidence.change_id, Evidence.id, Evidence.sha256, EvidenceBlob.content)
                .outerjoin(EvidenceBlob, EvidenceBlob.evidence_id == Evidence.id)
                .where(Evidence.change_id.between(first, last)).execution_options(yield_per=64)):
            evidence[cid].append((eid, sha, None if content is None else hashlib.sha256(content).hexdigest()))

    def _change_records_core(self, first: int, last: int, known: list) -> list[ChangeRecord]:
        rows = self.s.execute(select(Change.__table__.c.id, *known).where(Change.__table__.c.id.between(first, last))).all()
        items, approvals, evidence = defaultdict(list), defaultdict(list), defaultdict(list)
        for cid, name in self.s.execute(select(ChangeItem.change_id, ChangeItem.name)
                                        .where(ChangeItem.change_id.between(first, last))
                                        .order_by(ChangeItem.change_id, ChangeItem.position)):
            items[cid].append(name)
        for cid, role, approver, decision in self.s.execute(
                select(Approval.change_id, Approval.role, Approval.approver, Approval.decision)
                .where(Approval.change_id.between(first, last))):
            approvals[cid].append((role, approver, decision))
        self._evidence_of(first, last, evidence)
        return [ChangeRecord(row[0], {c.name: v for c, v in zip(known, row[1:])}, items[row[0]],
                             approvals[row[0]], evidence[row[0]]) for row in rows]


# Column types whose values the driver returns as SQLAlchemy would (or, for UTCDateTime, as converted here).
_RAW_TYPES = (String, Text, Integer, UTCDateTime)


def _raw_fetch(conn):
    """``fetch(sql, params)``: all rows straight from the driver's cursor (``?`` placeholders)."""
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.paramstyle == "qmark":
        return lambda sql, params: dbapi.execute(sql, params).fetchall()

    def fetch(sql: str, params: tuple) -> list[tuple]:
        with dbapi.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall()
    return fetch


def _sqlite_instant(value):
    """A ``UTCDateTime`` as SQLite stores it to the aware instant the column type gives: naive text is UTC,
    and text with an offset (written behind changegate's back) is converted, as ``UTCDateTime`` reads it."""
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return instant.replace(tzinfo=timezone.utc) if instant.tzinfo is None else instant.astimezone(timezone.utc)


def _utc(value):
    return None if value is None else value.astimezone(timezone.utc)


class _AppendSQL(NamedTuple):
    lock_head: str
    insert_event: str
    update_head: str
    event_names: tuple[str, ...] | None  # positional paramstyle: parameter order; None: named
    head_names: tuple[str, ...] | None

    def event_params(self, values: tuple):
        named = dict(zip(_EVENT_COLUMNS, values))
        return tuple(named[k] for k in self.event_names) if self.event_names else named

    def head_params(self, seq: int, digest: str):
        named = {"last_seq": seq, "last_hash": digest}
        return tuple(named[k] for k in self.head_names) if self.head_names else named


# PostgreSQL's append as one statement. The events come as arrays, in order; a recursive CTE chains their hashes
# from the locked head exactly as core/audit.py's event_hash does (the fields joined by U+001F, as UTF-8,
# SHA-256, hex), so the stored chain and its verification (in Python) are unchanged. In READ COMMITTED the
# head's FOR UPDATE waits for the holder and then reads the head it committed.
_PG_FIELDS = ("at", "actor", "action", "entity", "before", "after", "detail")
# Each step of the recursion joins the event list again: quadratic in the events of one transaction. A
# transaction appends one to a few (a group commit a few dozen); more take the three statements instead.
_PG_APPEND_MAX = 64
_PG_APPEND = """
WITH RECURSIVE head AS (SELECT last_seq, last_hash FROM audit_head WHERE id = 1 FOR UPDATE),
ev AS (SELECT * FROM unnest(%(at)s::text[], %(actor)s::text[], %(action)s::text[], %(entity)s::text[],
                            %(before)s::text[], %(after)s::text[], %(detail)s::text[])
       WITH ORDINALITY AS e(at, actor, action, entity, before, after, detail, n)),
chain(n, seq, prev_hash, hash) AS (
    SELECT 0::bigint, last_seq, NULL::text, last_hash::text FROM head
    UNION ALL
    SELECT ev.n, chain.seq + 1, chain.hash,
           encode(sha256(convert_to(concat_ws(chr(31), chain.hash, (chain.seq + 1)::text, ev.at, ev.actor,
                                              ev.action, ev.entity, ev.before, ev.after, ev.detail), 'UTF8')), 'hex')
    FROM chain JOIN ev ON ev.n = chain.n + 1),
ins AS (INSERT INTO audit_events (seq, at, actor, action, entity, before, after, detail, prev_hash, hash)
        SELECT chain.seq, ev.at, ev.actor, ev.action, ev.entity, ev.before, ev.after, ev.detail, chain.prev_hash,
               chain.hash
        FROM chain JOIN ev ON ev.n = chain.n
        RETURNING seq, hash)
UPDATE audit_head SET last_seq = last.seq, last_hash = last.hash
FROM (SELECT seq, hash FROM ins ORDER BY seq DESC LIMIT 1) AS last WHERE audit_head.id = 1
"""

_EVENT_COLUMNS = ("seq", "at", "actor", "action", "entity", "before", "after", "detail", "prev_hash", "hash")
_APPEND_SQL: dict[str, _AppendSQL] = {}


def _prepared(dialect) -> _AppendSQL:
    """The append's three statements, compiled once per dialect and run with ``exec_driver_sql``: going
    through SQLAlchemy's statement building and the ORM flush cost more than the statements did."""
    if dialect.name not in _APPEND_SQL:
        table, head = AuditEvent.__table__, AuditHead.__table__
        one = literal_column("1")  # the head row, inlined: no parameter to pass
        lock = select(head.c.last_seq, head.c.last_hash).where(head.c.id == one).with_for_update()
        insert = table.insert().values({c: bindparam(c) for c in _EVENT_COLUMNS})
        update = head.update().where(head.c.id == one).values(last_seq=bindparam("last_seq"),
                                                            last_hash=bindparam("last_hash"))
        compiled = [stmt.compile(dialect=dialect) for stmt in (lock, insert, update)]
        order = [tuple(c.positiontup) if c.positional else None for c in compiled]
        _APPEND_SQL[dialect.name] = _AppendSQL(str(compiled[0]), str(compiled[1]), str(compiled[2]),
                                               order[1], order[2])
    return _APPEND_SQL[dialect.name]
