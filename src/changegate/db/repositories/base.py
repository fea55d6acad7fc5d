"""What every repository shares: its session, and adding and getting rows of its model by key."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from ..models import Base

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    """One table's queries (house rule: every query lives in db/). Subclasses name their ``model``."""

    model: type[M]

    def __init__(self, session: Session):
        self.s = session

    def add(self, row: M) -> M:
        """Add a row and flush, so its generated key is known."""
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, key: Any) -> M | None:
        return self.s.get(self.model, key)
