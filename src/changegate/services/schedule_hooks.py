"""The schedule's verdict on a change's planned slot, used when it is scheduled.

Until the schedule engine is wired in this returns None (no schedule rules).
"""

from __future__ import annotations

from ..core.decisions import Decision
from ..db.models import Change
from ..db.uow import UnitOfWork
from .context import Context


def schedule_check(uow: UnitOfWork, ctx: Context, change: Change) -> Decision | None:
    return None


def demo_slot(rt, environment: str, after, minutes: int):
    """A plausible slot for demo changes: the next Tuesday–Thursday at 09:00 UTC after ``after``."""
    from datetime import timedelta

    day = (after + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    while day.weekday() not in (1, 2, 3):
        day += timedelta(days=1)
    return day
