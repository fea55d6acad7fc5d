"""Conflicts between scheduled changes: same or dependent items, overlapping half-open intervals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changegate.core.schedule.engine import Conflict, ScheduledChange, conflicts_with, find_conflicts

UTC = timezone.utc
T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def change(id: str, start_min: int, end_min: int, *items: str) -> ScheduledChange:
    return ScheduledChange(id, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min), frozenset(items))


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_conflict_lists_every_shared_item_and_the_exact_overlap():
    a = change("CHG-1", 0, 90, "mes", "erp", "label-printer")
    b = change("CHG-2", 60, 120, "label-printer", "mes", "scada")
    assert find_conflicts([a, b]) == [Conflict("CHG-1", "CHG-2", ("label-printer", "mes"), at(60), at(90))]


@pytest.mark.parametrize("a, b", [
    (change("A", 0, 60, "mes"), change("B", 60, 120, "mes")),  # touching ends do not overlap
    (change("A", 0, 60, "mes"), change("B", 30, 90, "erp")),  # overlap in time, nothing shared
    (change("A", 0, 60, "mes"), change("B", 61, 90, "mes")),
    (change("A", 60, 60, "mes"), change("B", 0, 60, "mes")),  # an instant at the end of another change
])
def test_no_conflict(a, b):
    assert find_conflicts([a, b]) == []
    assert conflicts_with(a, [b]) == []


def test_a_change_without_downtime_conflicts_with_one_running_then():
    instant, running = change("A", 30, 30, "mes"), change("B", 30, 60, "mes")
    assert find_conflicts([instant, running]) == [Conflict("A", "B", ("mes",), at(30), at(30))]
    assert find_conflicts([instant, change("C", 30, 30, "mes")]) == [Conflict("A", "C", ("mes",), at(30), at(30))]


def test_one_conflict_per_pair_ordered_by_overlap_start():
    changes = [change("A", 0, 120, "x", "y"), change("B", 100, 200, "x"), change("C", 10, 20, "y", "z"),
               change("D", 150, 160, "x", "q"), change("E", 0, 500, "unrelated")]
    found = find_conflicts(changes)
    assert [(c.first, c.second, c.items, c.start, c.end) for c in found] == [
        ("A", "C", ("y",), at(10), at(20)),
        ("A", "B", ("x",), at(100), at(120)),
        ("B", "D", ("x",), at(150), at(160)),
    ]


def test_overlap_is_reported_in_utc_whatever_zone_was_given():
    berlin = ZoneInfo("Europe/Berlin")
    a = ScheduledChange("A", datetime(2026, 3, 3, 9, tzinfo=berlin), datetime(2026, 3, 3, 11, tzinfo=berlin), {"mes"})
    b = ScheduledChange("B", datetime(2026, 3, 3, 9, 30, tzinfo=UTC), datetime(2026, 3, 3, 12, tzinfo=UTC), {"mes"})
    [conflict] = find_conflicts([a, b])
    assert (conflict.start, conflict.end) == (datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
                                              datetime(2026, 3, 3, 10, tzinfo=UTC))
    assert conflict.start.tzinfo is UTC
    assert conflict.message == "A and B both touch mes from 2026-03-03 09:30 to 2026-03-03 10:00 UTC"


def test_related_items_expand_what_a_change_touches():
    depends_on = {"mes-screen-7": ["mes"], "mes": ["mes-db"]}
    a = change("A", 0, 60, "mes-screen-7")
    b = change("B", 30, 90, "mes")
    related = lambda item: depends_on.get(item, [])  # noqa: E731
    assert find_conflicts([a, b]) == []
    [conflict] = find_conflicts([a, b], related_items=related)
    assert conflict.items == ("mes",)
    assert [c.items for c in conflicts_with(b, [a], related_items=related)] == [("mes",)]


def test_conflicts_with_checks_one_change_against_the_rest():
    candidate = change("NEW", 0, 60, "mes", "erp")
    others = [change("NEW", 0, 60, "mes"), change("B", 50, 70, "erp"), change("C", 10, 20, "mes", "erp"),
              change("D", 60, 90, "mes")]
    assert [(c.first, c.second, c.items, c.start) for c in conflicts_with(candidate, others)] == [
        ("NEW", "C", ("erp", "mes"), at(10)), ("NEW", "B", ("erp",), at(50))]


def test_scheduled_change_validates_its_interval():
    with pytest.raises(ValueError, match="ends before it starts"):
        change("A", 60, 0, "mes")
    with pytest.raises(ValueError, match="timezone-aware"):
        ScheduledChange("A", datetime(2026, 3, 3), datetime(2026, 3, 4), frozenset())


def test_a_hot_item_touched_by_many_changes():
    # Every change touches "db"; back-to-back slots never conflict, one long change conflicts with all.
    chain = [change(f"C{i:03d}", i * 10, i * 10 + 10, "db", f"own-{i}") for i in range(200)]
    assert find_conflicts(chain) == []
    long = change("LONG", 0, 2000, "db")
    found = find_conflicts([*chain, long])
    assert len(found) == 200 and all(c.second == "LONG" and c.items == ("db",) for c in found)


# --- against a naive pairwise oracle ---------------------------------------------------------

items = st.sampled_from([f"ci-{i}" for i in range(8)])
changes_strategy = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 120), st.frozensets(items, max_size=4)), max_size=40)


def naive(changes: list[ScheduledChange]) -> set[tuple[str, str, tuple[str, ...], datetime, datetime]]:
    found = set()
    instant = timedelta(microseconds=1)
    for i, a in enumerate(changes):
        for b in changes[i + 1:]:
            shared = a.items & b.items
            a_end, b_end = max(a.end, a.start + instant), max(b.end, b.start + instant)
            if shared and a.start < b_end and b.start < a_end:
                found.add((a.id, b.id, tuple(sorted(shared)), max(a.start, b.start), min(a.end, b.end)))
    return found


@settings(max_examples=200, deadline=None)
@given(changes_strategy)
def test_find_conflicts_matches_pairwise_comparison(specs):
    changes = [change(f"C{i}", start, start + length, *its) for i, (start, length, its) in enumerate(specs)]
    found = find_conflicts(changes)
    assert {(c.first, c.second, c.items, c.start, c.end) for c in found} == naive(changes)
    assert len(found) == len({(c.first, c.second) for c in found})  # one per pair
    assert [c.start for c in found] == sorted(c.start for c in found)
    for candidate in changes:
        mine = {(c.first, c.second) for c in conflicts_with(candidate, changes)}
        assert mine == {(candidate.id, other) for a, b, *_ in naive(changes) if candidate.id in (a, b)
                        for other in (a, b) if other != candidate.id}
