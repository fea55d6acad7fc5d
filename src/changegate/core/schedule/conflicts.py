"""Conflicts between scheduled changes: overlapping in time while touching a common configuration item.

Intervals are half-open, so a change ending at 10:00 and one starting at 10:00 do
not conflict. A change without downtime (start == end) still happens at its start:
it conflicts with a change on the same item that is running then.

Detection sweeps the changes in start order and meets only the changes running at the
same time on the same item, so its cost follows the number of (change, item)
memberships and of real conflicts, not the number of changes squared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from heapq import heappop, heappush
from typing import Callable, Iterable

_INSTANT = timedelta(microseconds=1)  # how long a change without downtime occupies its item
RelatedItems = Callable[[str], Iterable[str]]  # an item -> the items it depends on (CMDB), for impact


@dataclass(frozen=True, slots=True)
class ScheduledChange:
    id: str
    start: datetime
    end: datetime
    items: frozenset[str]

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"change {self.id}: start and end must be timezone-aware")
        if self.end < self.start:
            raise ValueError(f"change {self.id} ends before it starts")
        object.__setattr__(self, "items", frozenset(self.items))


@dataclass(frozen=True, slots=True)
class Conflict:
    first: str  # change ids, in the order the changes were given
    second: str
    items: tuple[str, ...]  # every shared item, sorted
    start: datetime  # the overlap, UTC
    end: datetime
    # A conflict through dependencies (CMDB): the paths from an item one change touches to an item of
    # the other that depends on it ("line-3 ← mes-core ← db-mes-prod"); empty for shared items.
    through: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.through:
            return (f"{self.first} and {self.second} overlap from {self.start:%Y-%m-%d %H:%M} to "
                    f"{self.end:%Y-%m-%d %H:%M} UTC through dependencies: {'; '.join(self.through)}")
        return (f"{self.first} and {self.second} both touch {', '.join(self.items)} from "
                f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC")

    def to_dict(self) -> dict:
        return {"first": self.first, "second": self.second, "items": list(self.items),
                "start": self.start.isoformat(), "end": self.end.isoformat(), "message": self.message,
                "through": list(self.through)}


def _occupied_until(change: ScheduledChange) -> datetime:
    return change.end if change.end > change.start else change.start + _INSTANT


def _expand(items: frozenset[str], related_items: RelatedItems | None) -> frozenset[str]:
    if related_items is None:
        return items
    return items.union(*(related_items(item) for item in items))


def _conflict(a: ScheduledChange, b: ScheduledChange, shared: frozenset[str]) -> Conflict:
    return Conflict(a.id, b.id, tuple(sorted(shared)), max(a.start, b.start).astimezone(timezone.utc),
                    min(a.end, b.end).astimezone(timezone.utc))


def find_conflicts(changes: Iterable[ScheduledChange], related_items: RelatedItems | None = None) -> list[Conflict]:
    """Every pair of changes that overlap in time and share an item, one Conflict per pair, by overlap start."""
    changes = list(changes)
    item_sets = [_expand(c.items, related_items) for c in changes]
    starts = [c.start.timestamp() for c in changes]
    ends = [_occupied_until(c).timestamp() for c in changes]
    pairs: set[tuple[int, int]] = set()
    # Sweep the changes in start order, keeping those still running and, per item, which of them
    # touch it: every running holder of an item overlaps the change that arrives on it.
    running: list[tuple[float, int]] = []  # heap of (end, change)
    # An int while one change holds the item (nearly always), a list only beyond: this spares
    # creating a list per (change, item) membership, a million of them at the benchmark's size.
    holders: dict[str, int | list[int]] = {}
    for j in sorted(range(len(changes)), key=starts.__getitem__):
        while running and running[0][0] <= starts[j]:
            i = heappop(running)[1]
            for item in item_sets[i]:
                held = holders[item]
                if isinstance(held, int):
                    del holders[item]
                else:
                    held.remove(i)
                    if len(held) == 1:
                        holders[item] = held[0]
        for item in item_sets[j]:
            held = holders.get(item)
            if held is None:
                holders[item] = j
            elif isinstance(held, int):
                pairs.add((held, j) if held < j else (j, held))
                holders[item] = [held, j]
            else:
                pairs.update((i, j) if i < j else (j, i) for i in held)
                held.append(j)
        heappush(running, (ends[j], j))

    ordered = sorted(pairs, key=lambda p: (max(starts[p[0]], starts[p[1]]), p))
    return [_conflict(changes[i], changes[j], item_sets[i] & item_sets[j]) for i, j in ordered]


def conflicts_with(candidate: ScheduledChange, others: Iterable[ScheduledChange],
                   related_items: RelatedItems | None = None) -> list[Conflict]:
    """The conflicts of one change with the others (itself, by id, excluded), by overlap start."""
    mine = _expand(candidate.items, related_items)
    found = []
    for other in others:
        if other.id == candidate.id or not (candidate.start < _occupied_until(other)
                                            and other.start < _occupied_until(candidate)):
            continue
        shared = mine & _expand(other.items, related_items)
        if shared:
            found.append(_conflict(candidate, other, shared))
    return sorted(found, key=lambda c: c.start)


# [(touched items, candidate items)…] -> for each, {each candidate item the touched ones impact: the path
# explaining it}. Asked once for all the pairs, so the CMDB is read a constant number of times (services/cmdb_index.py).
ExplainReach = Callable[[list[tuple[frozenset[str], frozenset[str]]]], list[dict[str, str]]]


def _overlap(a: ScheduledChange, b: ScheduledChange) -> bool:
    return a.start < _occupied_until(b) and b.start < _occupied_until(a)


def _through(pairs: list[tuple[ScheduledChange, ScheduledChange]], explain: ExplainReach) -> list[Conflict]:
    """The pairs where one touches an item the other's items depend on (either way), with the paths."""
    asks = [ask for a, b in pairs for ask in ((a.items, b.items - a.items), (b.items, a.items - b.items))]
    answers = explain(asks)
    found = []
    for k, (a, b) in enumerate(pairs):
        paths = {**answers[2 * k], **answers[2 * k + 1]}
        if paths:
            found.append(Conflict(a.id, b.id, tuple(sorted(paths)), max(a.start, b.start).astimezone(timezone.utc),
                                  min(a.end, b.end).astimezone(timezone.utc), tuple(paths[i] for i in sorted(paths))))
    return sorted(found, key=lambda c: c.start)


def dependency_conflicts(candidate: ScheduledChange, others: Iterable[ScheduledChange],
                         explain: ExplainReach) -> list[Conflict]:
    """Changes overlapping ``candidate`` in time where one touches an item the other's items depend on
    (either way), with the paths that say how; by overlap start. Shared items are ``conflicts_with``'s."""
    return _through([(candidate, o) for o in others if o.id != candidate.id and _overlap(candidate, o)], explain)


def dependency_conflicts_among(changes: Iterable[ScheduledChange], explain: ExplainReach,
                               skip: set[frozenset[str]] = frozenset()) -> list[Conflict]:
    """``dependency_conflicts`` for every overlapping pair of ``changes`` (a calendar), except the pairs of
    ids in ``skip`` (those already conflicting on a shared item)."""
    ordered = sorted(changes, key=lambda c: c.start)
    pairs = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.start >= _occupied_until(a):
                break  # sorted by start: no later change overlaps ``a`` either
            if frozenset((a.id, b.id)) not in skip:
                pairs.append((a, b))
    return _through(pairs, explain)
