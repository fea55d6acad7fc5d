"""The change record: changes with their items, approvals, comments; evidence and its content."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from ...schemas.changes import ChangeFilter
from ..models import Approval, Change, ChangeItem, Comment, Evidence, EvidenceBlob
from .base import Repository


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChangeRepository(Repository[Change]):
    model = Change

    def get(self, change_id: int, *, full: bool = True, for_update: bool = False) -> Change | None:
        """``for_update``: lock the row (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
        already serialises writers) and read its latest committed state, even if already loaded."""
        stmt = select(Change).where(Change.id == change_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        if full:
            stmt = stmt.options(
                selectinload(Change.items), selectinload(Change.approvals),
                selectinload(Change.evidence), selectinload(Change.comments),
            )
        return self.s.execute(stmt).scalar_one_or_none()

    def touch(self, change: Change, now: datetime) -> None:
        """Mark the change written: its UPDATE checks and bumps row_version even when nothing else
        on the row changed (an approval, a comment), so concurrent writers to one change collide."""
        change.updated_at = now
        flag_modified(change, "updated_at")

    def count(self) -> int:
        return self.s.execute(select(func.count()).select_from(Change)).scalar_one()

    def add_approval(self, approval: Approval) -> None:
        self.s.add(approval)

    def add_comment(self, comment: Comment) -> None:
        self.s.add(comment)

    def set_items(self, change: Change, names: Sequence[str]) -> None:
        change.items = [ChangeItem(name=n, position=i) for i, n in enumerate(names)]

    def search(self, f: ChangeFilter) -> tuple[list[Change], int]:
        conditions = []
        if f.state:
            conditions.append(Change.state.in_(list(f.state)))
        if f.environment:
            conditions.append(Change.environment.in_(list(f.environment)))
        if f.type:
            conditions.append(Change.type.in_(list(f.type)))
        if f.requester:
            conditions.append(Change.requester == f.requester)
        if f.text:
            pattern = f"%{_like_escape(f.text.lower())}%"
            conditions.append(
                or_(
                    func.lower(Change.title).like(pattern, escape="\\"),
                    func.lower(Change.description).like(pattern, escape="\\"),
                    exists().where(ChangeItem.change_id == Change.id,
                                   func.lower(ChangeItem.name).like(pattern, escape="\\")),
                )
            )
        total = self.s.execute(select(func.count()).select_from(Change).where(*conditions)).scalar_one()
        rows = self.s.execute(
            select(Change).where(*conditions)
            .options(selectinload(Change.items), selectinload(Change.approvals), selectinload(Change.evidence))
            .order_by(Change.id.desc()).limit(f.limit).offset(f.offset)
        ).scalars().all()
        return list(rows), total

    def scheduled_between(self, start: datetime, end: datetime, *, environment: str | None = None) -> list[Change]:
        """Changes holding a slot (scheduled or being implemented) that starts before ``end``."""
        stmt = (
            select(Change)
            .where(Change.state.in_(["scheduled", "implementing"]), Change.planned_start.is_not(None),
                   Change.planned_start < end)
            .options(selectinload(Change.items))
            .order_by(Change.planned_start)
        )
        if environment:
            stmt = stmt.where(Change.environment == environment)
        # The end of a slot is start + downtime: filter the lower bound in Python,
        # since interval arithmetic differs between SQLite and PostgreSQL.
        return [c for c in self.s.execute(stmt).scalars()
                if c.planned_start + timedelta(minutes=c.estimated_downtime_minutes or 0) > start]


class EvidenceRepository(Repository[Evidence]):
    model = Evidence

    def add(self, evidence: Evidence, content: bytes) -> Evidence:
        self.s.add(evidence)
        self.s.flush()
        self.s.add(EvidenceBlob(evidence_id=evidence.id, content=content))
        return evidence

    def get(self, change_id: int, evidence_id: int) -> Evidence | None:
        return self.s.execute(
            select(Evidence).where(Evidence.id == evidence_id, Evidence.change_id == change_id)
        ).scalar_one_or_none()

    def content(self, evidence_id: int) -> bytes:
        return self.s.execute(
            select(EvidenceBlob.content).where(EvidenceBlob.evidence_id == evidence_id)
        ).scalar_one()

    def latest_of_kind(self, change_id: int, kind: str) -> Evidence | None:
        return self.s.execute(
            select(Evidence).where(Evidence.change_id == change_id, Evidence.kind == kind)
            .order_by(Evidence.id.desc()).limit(1)
        ).scalar_one_or_none()
