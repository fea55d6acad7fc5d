"""Conflicts through dependencies (issue 15): pure, with the explanation given as a function."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from changegate.core.schedule.conflicts import ScheduledChange, dependency_conflicts, dependency_conflicts_among

T = datetime(2026, 12, 2, 8, tzinfo=timezone.utc)
DEPENDS = {"line-3": ["mes-core"], "mes-core": ["db"]}  # what each item needs


def explain(asks):
    """Asked once for every pair (the CMDB read a constant number of times)."""
    explain.calls += 1
    return [explain_one(touched, among) for touched, among in asks]


explain.calls = 0


def explain_one(touched, among):
    """Brute force: an item of ``among`` is impacted if it needs a touched item, transitively."""
    found = {}
    for item in among:
        path, stack = {item: [item]}, [item]
        while stack:
            here = stack.pop()
            for needed in DEPENDS.get(here, ()):
                if needed not in path:
                    path[needed] = path[here] + [needed]
                    stack.append(needed)
        hit = next((t for t in sorted(touched) if t in path and t != item), None)
        if hit:
            found[item] = " ← ".join(path[hit])
    return found


def change(id_, items, start=T, minutes=60):
    return ScheduledChange(id_, start, start + timedelta(minutes=minutes), frozenset(items))


def test_a_change_on_what_another_depends_on_conflicts_with_the_path_either_way():
    db, line = change("1", ["db"]), change("2", ["line-3"], T + timedelta(minutes=30))
    (found,) = dependency_conflicts(line, [db], explain)
    assert (found.first, found.second, found.items, found.through) == ("2", "1", ("line-3",),
                                                                       ("line-3 ← mes-core ← db",))
    assert found.start == T + timedelta(minutes=30) and found.end == T + timedelta(minutes=60)
    assert "through dependencies: line-3 ← mes-core ← db" in found.message
    assert [c.through for c in dependency_conflicts(db, [line], explain)] == [("line-3 ← mes-core ← db",)]


def test_no_overlap_or_no_dependency_is_no_conflict():
    assert dependency_conflicts(change("1", ["db"]), [change("2", ["line-3"], T + timedelta(hours=1))], explain) == []
    assert dependency_conflicts(change("1", ["printer"]), [change("2", ["line-3"])], explain) == []


def test_among_many_changes_every_overlapping_pair_is_asked_once_and_shared_item_pairs_skipped():
    explain.calls = 0
    db, line = change("1", ["db"]), change("2", ["line-3"], T + timedelta(minutes=30))
    later = change("3", ["mes-core"], T + timedelta(hours=3))
    same = change("4", ["line-3"], T + timedelta(minutes=10))
    found = dependency_conflicts_among([later, line, db, same], explain, skip={frozenset(("2", "4"))})
    assert [(c.first, c.second, c.through) for c in found] == [
        ("1", "4", ("line-3 ← mes-core ← db",)), ("1", "2", ("line-3 ← mes-core ← db",))]
    assert explain.calls == 1
