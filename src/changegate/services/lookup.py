"""Finding a change by its reference (CHG-12 or 12)."""

from __future__ import annotations

import re

from ..core.changes.entities import format_ref
from ..core.errors import InvalidInput, NotFound
from ..db.models import Change
from ..db.uow import UnitOfWork
from ..schemas.common import MAX_ID

_REF = re.compile(r"^(?:CHG-)?(\d{1,12})$", re.IGNORECASE)


def parse_ref(ref: str | int) -> int:
    match = _REF.match(str(ref).strip())
    if not match:
        raise InvalidInput(f"{ref!r} is not a change reference (write CHG-12 or 12)", field="ref")
    number = int(match.group(1))
    if number > MAX_ID:
        raise NotFound(f"no change {format_ref(number)}")
    return number


def load(uow: UnitOfWork, ref: str | int, *, for_update: bool = False) -> Change:
    """The change, with its rows; ``for_update`` in writing use cases: the row stays locked until the
    unit of work ends, so a concurrent writer waits instead of failing on the row version."""
    change = uow.changes.get(parse_ref(ref), for_update=for_update)
    if change is None:
        raise NotFound(f"no change {format_ref(parse_ref(ref))}")
    return change
