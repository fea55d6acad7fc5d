"""Configuration item names: the closest known names, and a change's items checked against the CMDB.

Kept apart from services/cmdb.py so that the change use cases check their items without loading numpy
and the graph index (the CLI's start time).
"""

from __future__ import annotations

from ..core.errors import InvalidInput
from ..db.uow import UnitOfWork

_SUGGEST_ALL = 50_000  # up to this many items, every name is a candidate for "did you mean"


def closest(uow: UnitOfWork, name: str) -> list[str]:
    """The stored names closest to ``name`` (difflib). A large CMDB offers the names sharing its first
    three characters, so that a typo costs a range of the index, not a million comparisons."""
    import difflib

    if uow.cmdb.count() <= _SUGGEST_ALL:
        candidates = uow.cmdb.all_names()
    else:
        candidates = uow.cmdb.names_starting(name[:3], _SUGGEST_ALL)
    return difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)


def suggest(uow: UnitOfWork, name: str) -> str:
    """'; did you mean …?' with the closest stored names, or ''."""
    close = closest(uow, name)
    return f"; did you mean {', '.join(close)}?" if close else ""


def check_change_items(uow: UnitOfWork, names: list[str]) -> None:
    """A change's items must be configuration items once the CMDB is in use (holds any item); while it
    is empty, items are free names, as before the CMDB. Every unknown name is refused at once, each with
    the closest known names."""
    if not names:
        return
    known = uow.cmdb.ids_by_names(names)  # usually every name: one query, no emptiness check
    unknown = [n for n in names if n not in known]
    if unknown and uow.cmdb.has_items():
        parts = []
        for name in unknown:
            close = closest(uow, name)
            parts.append(f"{name!r} (did you mean {', '.join(close)}?)" if close else repr(name))
        raise InvalidInput(f"not in the CMDB: {'; '.join(parts)}", field="items")
