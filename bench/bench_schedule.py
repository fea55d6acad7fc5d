"""The schedule engine: ``next_slot`` over a one-year horizon, and conflict detection among 100,000 changes.

(a) ``next_slot`` with every rule on (seed 000's windows plus a monthly window, Friday, shift changes
    with a 30-minute margin, quarter end, a peak-season freeze, Bavarian public holidays and six ad-hoc
    freezes), for a 30-120 minute change, from random ``after`` instants in 2026, one-year horizon.
    Goal: p50 < 1 ms. Reference, same run: the brute-force search a first version would write, which
    asks ``explain`` minute by minute until a minute is allowed, on a sample of the same queries; it
    must find the same slots (checked: the benchmark exits non-zero otherwise).
(b) ``find_conflicts`` among 100,000 scheduled changes over one year, each touching about 10 of
    1,000,000 configuration items. Goal: < 1 s. Reference: the naive pairwise comparison (interval
    overlap, then item-set intersection, on precomputed timestamps and sets), timed on the first 5,000
    changes and extrapolated by the pair count, clearly labelled as extrapolated. On that subset both
    must report the same conflicts (checked).

CHANGEGATE_BENCH_QUICK=1 shrinks every size. Run:  .venv/bin/python bench/bench_schedule.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK, fmt, footer, header, table  # noqa: E402

from changegate.core.schedule.engine import (
    AdhocFreeze,
    ScheduleContext,
    ScheduledChange,
    SchedulePolicy,
    explain,
    find_conflicts,
    next_slot,
)

SEED = 20260303
QUERIES = 500 if QUICK else 3000
BRUTE_SAMPLE = 6 if QUICK else 16
CHANGES = 20_000 if QUICK else 100_000
ITEMS = 200_000 if QUICK else 1_000_000
ITEMS_PER_CHANGE = 10
NAIVE_SUBSET = 2_000 if QUICK else 5_000
YEAR_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
GOAL_NEXT_SLOT_P50_MS = 1.0
GOAL_CONFLICTS_S = 1.0


def every_rule_policy() -> SchedulePolicy:
    defaults = SchedulePolicy().model_dump()
    return SchedulePolicy.model_validate({
        **defaults,
        "windows": [*defaults["windows"], {"name": "monthly-maintenance", "monthly": {"week": 3, "day": "sat"},
                                           "start": "08:00", "end": "12:00"}],
        "blackouts": [*defaults["blackouts"],
                      {"name": "peak-season", "kind": "dates", "start": date(2026, 11, 15), "end": date(2026, 12, 31)},
                      {"name": "holidays-de-by", "kind": "holidays", "country": "DE", "subdivision": "BY"}],
    })


def adhoc_freezes(rng: random.Random) -> list[AdhocFreeze]:
    freezes = []
    for i in range(6):
        start = YEAR_START + timedelta(days=rng.randrange(0, 330), hours=rng.randrange(0, 24))
        freezes.append(AdhocFreeze(f"freeze-{i}", start, start + timedelta(hours=rng.randrange(4, 72)),
                                   items=("mes",) if i % 2 else (), reason="bench"))
    return freezes


def brute_force(policy, ctx, duration, after, freezes, horizon=timedelta(days=366)) -> datetime | None:
    t = after.replace(second=0, microsecond=0)
    if t < after:
        t += timedelta(minutes=1)
    while t <= after + horizon:
        if explain(policy, ctx, t, duration, freezes).allowed:
            return t
        t += timedelta(minutes=1)
    return None


def bench_next_slot(rng: random.Random) -> list[list[str]]:
    policy, freezes = every_rule_policy(), adhoc_freezes(rng)
    ctx = ScheduleContext("prod", items={"mes"})
    queries = [(YEAR_START + timedelta(seconds=rng.randrange(0, 365 * 86400)),
                timedelta(minutes=rng.choice((30, 60, 90, 120)))) for _ in range(QUERIES)]
    next_slot(policy, ctx, *reversed(queries[0]), freezes)  # warm caches (zone offsets, holidays)
    times, found = [], []
    for after, duration in queries:
        t0 = time.perf_counter()
        slot = next_slot(policy, ctx, duration, after, freezes)
        times.append(time.perf_counter() - t0)
        found.append(slot.start)
    times_ms = sorted(t * 1e3 for t in times)
    p50, p99 = times_ms[len(times_ms) // 2], times_ms[int(len(times_ms) * 0.99)]

    sample = rng.sample(range(QUERIES), BRUTE_SAMPLE)
    brute_s, fast_s = [], []
    t_total = time.perf_counter()
    for i in sample:
        after, duration = queries[i]
        t0 = time.perf_counter()
        expected = brute_force(policy, ctx, duration, after, freezes)
        brute_s.append(time.perf_counter() - t0)
        fast_s.append(times[i])
        if expected != found[i]:
            raise SystemExit(f"MISMATCH after {after}: next_slot {found[i]}, brute force {expected}")
    brute_total = time.perf_counter() - t_total
    brute_med, fast_med = statistics.median(brute_s) * 1e3, statistics.median(fast_s) * 1e3
    print(f"   next_slot: {QUERIES:,} queries; brute force on {BRUTE_SAMPLE} of them found the same slots "
          f"({brute_total:.1f} s in all)")
    return [
        ["next_slot p50, 1-year horizon, every rule", f"{fmt(p50)} ms", f"goal {GOAL_NEXT_SLOT_P50_MS:g} ms",
         f"{fmt(GOAL_NEXT_SLOT_P50_MS / p50)}x under", "met" if p50 < GOAL_NEXT_SLOT_P50_MS else "MISSED"],
        ["next_slot p99", f"{fmt(p99)} ms", "", "", ""],
        [f"next_slot median on the {BRUTE_SAMPLE}-query sample", f"{fmt(fast_med)} ms",
         f"brute force {fmt(brute_med)} ms", f"{fmt(brute_med / fast_med)}x faster", ""],
    ]


def scheduled_changes(rng: random.Random) -> list[ScheduledChange]:
    names = [f"ci-{i:07d}" for i in range(ITEMS)]
    changes = []
    for i in range(CHANGES):
        start = YEAR_START + timedelta(minutes=rng.randrange(0, 365 * 1440))
        k = rng.randint(ITEMS_PER_CHANGE - 3, ITEMS_PER_CHANGE + 3)
        changes.append(ScheduledChange(f"CHG-{i}", start, start + timedelta(minutes=rng.randrange(30, 241)),
                                       frozenset(rng.choices(names, k=k))))
    return changes


def naive_pairs(changes: list[ScheduledChange]) -> set[tuple[str, str]]:
    starts = [c.start.timestamp() for c in changes]
    ends = [c.end.timestamp() for c in changes]
    items = [c.items for c in changes]
    found = set()
    for i in range(len(changes)):
        si, ei, ii = starts[i], ends[i], items[i]
        for j in range(i + 1, len(changes)):
            if si < ends[j] and starts[j] < ei and not ii.isdisjoint(items[j]):
                found.add((changes[i].id, changes[j].id))
    return found


def bench_conflicts(rng: random.Random) -> list[list[str]]:
    t0 = time.perf_counter()
    changes = scheduled_changes(rng)
    touched = sum(len(c.items) for c in changes)
    print(f"   conflicts: {CHANGES:,} changes, {touched:,} (change, item) pairs over {ITEMS:,} items, "
          f"built in {time.perf_counter() - t0:.1f} s (not timed)")
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        conflicts = find_conflicts(changes)
        best = min(best, time.perf_counter() - t0)

    subset = changes[:NAIVE_SUBSET]
    t0 = time.perf_counter()
    naive = naive_pairs(subset)
    naive_s = time.perf_counter() - t0
    if naive != {(c.first, c.second) for c in find_conflicts(subset)}:
        raise SystemExit("MISMATCH: find_conflicts and the pairwise comparison disagree on the subset")
    pairs = CHANGES * (CHANGES - 1) / 2
    extrapolated = naive_s * pairs / (NAIVE_SUBSET * (NAIVE_SUBSET - 1) / 2)
    print(f"   conflicts: {len(conflicts):,} conflicting pairs found; naive comparison agreed on the first "
          f"{NAIVE_SUBSET:,} changes ({len(naive)} pairs) in {naive_s:.2f} s")
    return [
        [f"find_conflicts, {CHANGES:,} changes / {ITEMS:,} items", f"{fmt(best)} s", f"goal {GOAL_CONFLICTS_S:g} s",
         f"{fmt(GOAL_CONFLICTS_S / best)}x under", "met" if best < GOAL_CONFLICTS_S else "MISSED"],
        [f"naive pairwise on {NAIVE_SUBSET:,} changes (measured)", f"{fmt(naive_s)} s", "", "", ""],
        [f"naive pairwise on {CHANGES:,} changes", f"{fmt(extrapolated)} s EXTRAPOLATED",
         f"find_conflicts {fmt(best)} s", f"{fmt(extrapolated / best)}x faster", ""],
    ]


def main() -> int:
    header(f"bench_schedule: next_slot over one year ({QUERIES:,} queries) and find_conflicts "
           f"({CHANGES:,} changes)")
    rng = random.Random(SEED)
    rows = bench_next_slot(rng) + bench_conflicts(rng)
    print()
    print(table(["metric", "value", "reference", "ratio", "goal"], rows))
    print("   conflict timings are the best of 2; the naive figure for all changes is extrapolated from the "
          "measured subset by the number of pairs")
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
