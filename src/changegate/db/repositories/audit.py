"""The hash-chained audit log: append under the head's lock, read a chain fast for verification."""

from __future__ import annotations

from datetime import datetime
import hashlib
from collections import defaultdict
from itertools import chain
from typing import Iterable, Iterator, Sequence

from sqlalchemy import func, select

from ...core.audit import AuditRecord, canonical_json, event_hash
from ...core.reconcile import ChangeRecord
from ..models import Approval, AuditEvent, AuditHead, Change, ChangeItem, Evidence, EvidenceBlob
from .base import Repository


class AuditRepository(Repository[AuditEvent]):
    model = AuditEvent

    def append(self, record: AuditRecord, now: datetime) -> AuditEvent:
        # Lock the chain's tip for the rest of the transaction: concurrent
        # appenders queue here instead of forking the chain.
        head = self.s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        seq = head.last_seq + 1
        fields = dict(
            at=now.isoformat(timespec="microseconds"),
            actor=record.actor,
            action=record.action,
            entity=record.entity,
            before=canonical_json(record.before or {}),
            after=canonical_json(record.after or {}),
            detail=canonical_json(record.detail or {}),
        )
        digest = event_hash(head.last_hash, seq, **fields)
        event = AuditEvent(seq=seq, prev_hash=head.last_hash, hash=digest, **fields)
        self.s.add(event)
        head.last_seq = seq
        head.last_hash = digest
        self.s.flush()
        return event

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
        snapshots mention), their items, approvals and evidence with the SHA-256 of its content."""
        table = Change.__table__
        known = [table.c[name] for name in columns if name in table.c and name != "id"]
        rows = self.s.execute(select(table.c.id, *known).where(table.c.id.between(first, last))).all()
        items, approvals, evidence = defaultdict(list), defaultdict(list), defaultdict(list)
        for cid, name in self.s.execute(select(ChangeItem.change_id, ChangeItem.name)
                                        .where(ChangeItem.change_id.between(first, last))
                                        .order_by(ChangeItem.change_id, ChangeItem.position)):
            items[cid].append(name)
        for cid, role, approver, decision in self.s.execute(
                select(Approval.change_id, Approval.role, Approval.approver, Approval.decision)
                .where(Approval.change_id.between(first, last))):
            approvals[cid].append((role, approver, decision))
        for cid, eid, sha, content in self.s.execute(
                select(Evidence.change_id, Evidence.id, Evidence.sha256, EvidenceBlob.content)
                .outerjoin(EvidenceBlob, EvidenceBlob.evidence_id == Evidence.id)
                .where(Evidence.change_id.between(first, last)).execution_options(yield_per=64)):
            evidence[cid].append((eid, sha, None if content is None else hashlib.sha256(content).hexdigest()))
        return [ChangeRecord(row[0], {c.name: v for c, v in zip(known, row[1:])}, items[row[0]],
                             approvals[row[0]], evidence[row[0]]) for row in rows]
