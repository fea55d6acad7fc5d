"""What the schedule stores at run time: ad-hoc freezes and accepted conflicts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from ..models import ConflictAcceptance, Freeze
from .base import Repository


class FreezeRepository(Repository[Freeze]):
    model = Freeze

    def active_overlapping(self, start: datetime, end: datetime) -> list[Freeze]:
        return list(self.s.execute(
            select(Freeze).where(Freeze.lifted_at.is_(None), Freeze.starts_at < end, Freeze.ends_at > start)
            .order_by(Freeze.starts_at)
        ).scalars())


class ConflictAcceptanceRepository(Repository[ConflictAcceptance]):
    model = ConflictAcceptance

    def accepted_with(self, change_id: int) -> set[int]:
        """Ids of the changes whose conflict with ``change_id`` a change manager accepted."""
        rows = self.s.execute(
            select(ConflictAcceptance.change_id, ConflictAcceptance.other_change_id).where(
                or_(ConflictAcceptance.change_id == change_id, ConflictAcceptance.other_change_id == change_id))
        ).all()
        return {b if a == change_id else a for a, b in rows}
