"""Reads for the web pages' lists: changes as plain records, without the ORM.

The dashboard and the approval queue look at up to hundreds of changes to find those waiting for the
viewer; loading each as an ORM object with its collections cost most of the page's time. These reads
return records with the model's attribute names (``items``, ``approvals``, ``evidence`` as lists of
records), as ``ChangeRepository.view`` does, so ``services.views.facts_of`` and the summaries read
them unchanged. Read-only: nothing here is attached to the session.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Approval, Change, ChangeItem, Comment, Evidence

_CHANGE_COLUMNS = tuple(Change.__table__.c)
_APPROVAL_COLUMNS = ("id", "role", "approver", "decision", "reason", "retroactive", "created_at")


_EVIDENCE_COLUMNS = ("id", "kind", "filename", "media_type", "size", "sha256", "description", "uploaded_by",
                     "uploaded_at")
_COMMENT_COLUMNS = ("id", "author", "body", "created_at")


def _rows(model, columns: tuple[str, ...]):
    return select(model.change_id, *(getattr(model, c) for c in columns))


class WebReads:
    def __init__(self, session: Session):
        self.s = session

    def change_records(self, *, states: Sequence[str] = (), types: Sequence[str] = (),
                       requester: str | None = None, limit: int = 50) -> list[SimpleNamespace]:
        """The newest ``limit`` changes matching every filter given, as plain records (newest first);
        three statements whatever their number: the rows, their items, their approvals (and evidence ids)."""
        stmt = select(*_CHANGE_COLUMNS)
        if states:
            stmt = stmt.where(Change.state.in_(list(states)))
        if types:
            stmt = stmt.where(Change.type.in_(list(types)))
        if requester:
            stmt = stmt.where(Change.requester == requester)
        rows = self.s.execute(stmt.order_by(Change.id.desc()).limit(limit)).all()
        records = {row.id: SimpleNamespace(**row._asdict(), items=[], approvals=[], evidence=[]) for row in rows}
        if records:
            self._children(records)
        return list(records.values())

    def change_record(self, change_id: int) -> SimpleNamespace | None:
        """One change with every collection the change page shows (evidence and comments in full), as a
        plain record: five short Core statements instead of the ORM's load and its four collection loads."""
        row = self.s.execute(select(*_CHANGE_COLUMNS).where(Change.id == change_id)).first()
        if row is None:
            return None
        record = SimpleNamespace(**row._asdict(), items=[], approvals=[], evidence=[], comments=[])
        records = {change_id: record}
        self._children(records, evidence=False)
        for name, model, columns in (("evidence", Evidence, _EVIDENCE_COLUMNS), ("comments", Comment, _COMMENT_COLUMNS)):
            found = self.s.execute(_rows(model, columns).where(model.change_id == change_id).order_by(model.id))
            setattr(record, name, [SimpleNamespace(**{c: getattr(r, c) for c in columns}) for r in found])
        return record

    def _children(self, records: dict[int, SimpleNamespace], *, evidence: bool = True) -> None:
        ids = list(records)
        for change_id, name in self.s.execute(
                select(ChangeItem.change_id, ChangeItem.name).where(ChangeItem.change_id.in_(ids))
                .order_by(ChangeItem.change_id, ChangeItem.position)):
            records[change_id].items.append(SimpleNamespace(name=name))
        for row in self.s.execute(_rows(Approval, _APPROVAL_COLUMNS).where(Approval.change_id.in_(ids)).order_by(Approval.id)):
            records[row.change_id].approvals.append(SimpleNamespace(**{c: getattr(row, c) for c in _APPROVAL_COLUMNS}))
        if not evidence:
            return
        found: dict[int, list] = defaultdict(list)
        for change_id, evidence_id in self.s.execute(
                select(Evidence.change_id, Evidence.id).where(Evidence.change_id.in_(ids))):
            found[change_id].append(SimpleNamespace(id=evidence_id))  # facts count them; summaries skip them
        for change_id, rows in found.items():
            records[change_id].evidence = rows
