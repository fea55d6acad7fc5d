"""Schedule use cases: timing verdicts, conflicts, freezes, next slot, calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.decisions import Decision
from ..core.changes import format_ref
from ..db.models import Change
from ..db.uow import UnitOfWork
from .context import Context


@dataclass(frozen=True)
class ChangeConflict:
    other: str
    items: tuple[str, ...]
    start: datetime
    end: datetime
    accepted: bool

    @property
    def sentence(self) -> str:
        return (f"overlaps {self.other} on {', '.join(self.items)} from {self.start:%Y-%m-%d %H:%M} to "
                f"{self.end:%H:%M} UTC" + (" (accepted)" if self.accepted else ""))


def timing_verdict(uow: UnitOfWork, ctx: Context, change: Change, environment: str, start: datetime,
                   duration: timedelta) -> Decision | None:
    return None


def conflicts_of(uow: UnitOfWork, ctx: Context, change: Change, *, start: datetime | None = None
                 ) -> list[ChangeConflict]:
    return []
