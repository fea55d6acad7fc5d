"""Impact over the graph index against a brute-force traversal on random graphs (issue 15)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from changegate.core.cmdb.graph import GraphIndex
from changegate.core.cmdb.policy import DEFAULT_RELATION_TYPES

RELATIONS = tuple(DEFAULT_RELATION_TYPES)
DIRECTIONS = {name: r.impact for name, r in DEFAULT_RELATION_TYPES.items()}


def index(n: int, relations: list[tuple[int, int, int]], ids: list[int] | None = None) -> GraphIndex:
    ids = ids or list(range(n))
    return GraphIndex.build(ids, [0] * n, [0] * n, ["thing"], [ids[s] for s, _, _ in relations],
                            [ids[t] for _, t, _ in relations], [r for _, _, r in relations], RELATIONS, DIRECTIONS)


def brute_force(n, relations, touched, allowed, max_depth):
    """Plain BFS over the relation list, deciding each step from the direction table."""
    out = {p: [] for p in range(n)}
    for s, t, r in relations:
        name = RELATIONS[r]
        if allowed and name not in allowed:
            continue
        if DIRECTIONS[name] in ("to_source", "both"):
            out[t].append((s, r))
        if DIRECTIONS[name] in ("to_target", "both"):
            out[s].append((t, r))
    dist = {p: 0 for p in touched}
    queue = deque(touched)
    while queue:
        p = queue.popleft()
        if max_depth is not None and dist[p] >= max_depth:
            continue
        for q, _ in out[p]:
            if q not in dist:
                dist[q] = dist[p] + 1
                queue.append(q)
    return dist, out


@pytest.fixture
def monkeypatch_small(monkeypatch):
    """Where the search moves from dicts to arrays: the property holds on either side and across."""
    from changegate.core.cmdb import graph

    return lambda value: monkeypatch.setattr(graph, "SMALL", value)


graphs = st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, len(RELATIONS) - 1)),
             max_size=4 * n, unique=True),
    st.lists(st.integers(0, n - 1), min_size=1, max_size=3),
    st.one_of(st.none(), st.sets(st.sampled_from(RELATIONS), min_size=1)),
    st.one_of(st.none(), st.integers(0, 6)),
))


@pytest.mark.parametrize("small", [2_048, 0, 3], ids=["dicts", "arrays", "dicts-then-arrays"])
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # SMALL is set once per test
@given(case=graphs)
def test_impact_matches_brute_force_and_each_path_explains_its_item(small, case, monkeypatch_small):
    monkeypatch_small(small)
    n, relations, touched, allowed, max_depth = case
    reach = index(n, relations).impact(touched, relation_types=allowed, max_depth=max_depth)
    expected, out = brute_force(n, relations, set(touched), allowed, max_depth)
    got = {p: reach.distance_of(p) for p in range(n) if reach.distance_of(p) >= 0}
    assert got == expected
    assert sorted(reach.reached.tolist()) == sorted(p for p in expected if p not in touched)
    distances = [reach.distance_of(p) for p in reach.reached.tolist()]
    assert distances == sorted(distances)  # nearest first
    for p in reach.reached.tolist():
        path = reach.path(p)
        assert len(path) == expected[p] + 1 and path[-1] == (path[-1][0], -1) and path[-1][0] in touched
        for (later, relation), (earlier, _) in zip(path, path[1:]):
            assert (later, relation) in out[earlier]  # every step is an impact edge of an allowed type
    everything = [*reach.touched.tolist(), *reach.reached.tolist()]
    assert reach.paths(everything) == [reach.path(p) for p in everything]  # all at once, the same paths


def test_a_cycle_terminates_and_each_item_appears_once():
    reach = index(3, [(0, 1, 0), (1, 2, 0), (2, 0, 0)]).impact([0])
    assert sorted(reach.reached.tolist()) == [1, 2]
    assert [reach.distance_of(p) for p in range(3)] == [0, 2, 1]  # impact runs against depends_on


def test_directions_of_the_default_relation_types():
    # 0 depends_on 1; 2 runs_on 1; 3 part_of 0; 4 connects_to 3
    relations = [(0, 1, 0), (2, 1, 1), (3, 0, 3), (4, 3, 2)]
    g = index(5, relations)
    assert sorted(g.impact([1]).reached.tolist()) == [0, 2]  # what depends on / runs on 1
    assert sorted(g.impact([3]).reached.tolist()) == [0, 4]  # the whole 3 is part of; 4 connects to 3 (both ways)
    assert g.impact([0]).reached.tolist() == []  # nothing needs 0, and the parts of 0 are not impacted
    assert sorted(g.impact([4]).reached.tolist()) == [0, 3]
    assert g.impact([4], relation_types=["connects_to"]).reached.tolist() == [3]
    assert g.impact([4], max_depth=1).reached.tolist() == [3]


def test_ids_map_to_positions_whatever_their_order():
    g = index(3, [(0, 1, 0)], ids=[30, 10, 20])
    assert g.ids.tolist() == [10, 20, 30]
    reach = g.impact(g.positions([10]))
    assert g.ids[reach.reached].tolist() == [30]


# --- an index kept current by merging writes, against one built from scratch ---------------------------

RANKS = ("low", "medium", "high", "critical")
write_steps = st.lists(st.tuples(st.sampled_from(["relate", "unrelate", "create", "delete", "edit", "none"]),
                                 st.integers(0, 10 ** 6), st.integers(0, 10 ** 6),
                                 st.integers(0, len(RELATIONS) - 1), st.integers(0, 3)), max_size=25)


def _play(items: dict, relations: set, steps) -> list:
    """Applies random steps to the model (id -> (type, criticality); (source, target, relation) set) and
    returns them as the write log would record them."""
    from changegate.core.cmdb.graph import Write

    writes = []
    for op, x, y, r, c in steps:
        known = sorted(items)
        if op == "create":
            new = max(items, default=0) + 1 + x % 3
            items[new] = ("thing", RANKS[c])
            writes.append(Write("item", new, kind="thing", criticality=RANKS[c]))
        elif op == "none" or not known:
            writes.append(Write("none"))
        elif op == "edit":
            items[known[x % len(known)]] = ("gadget", RANKS[c])
            writes.append(Write("item", known[x % len(known)], kind="gadget", criticality=RANKS[c]))
        elif op == "delete":
            gone = known[x % len(known)]
            del items[gone]
            relations -= {t for t in relations if gone in t[:2]}
            writes.append(Write("item_deleted", gone))
        elif op == "relate":
            triple = (known[x % len(known)], known[y % len(known)], r)
            if triple not in relations:
                relations.add(triple)
                writes.append(Write("relation", triple[0], triple[1], RELATIONS[r]))
        elif relations:
            triple = sorted(relations)[x % len(relations)]
            relations.discard(triple)
            writes.append(Write("relation_deleted", triple[0], triple[1], RELATIONS[triple[2]]))
    return writes


def _built(items: dict, relations: set) -> GraphIndex:
    ids = sorted(items)
    types = ["thing", "gadget"]
    return GraphIndex.build(ids, [types.index(items[i][0]) for i in ids],
                            [RANKS.index(items[i][1]) for i in ids], types, [s for s, _, _ in relations],
                            [t for _, t, _ in relations], [r for _, _, r in relations], RELATIONS, DIRECTIONS)


def _facts(g: GraphIndex, alive: set) -> tuple:
    """What a search can see: each live item's type and rank, and every impact edge by item ids."""
    e = g.edges
    edges = sorted((int(g.ids[o]), int(g.ids[t]), g.relation_names[r])
                   for o, t, r in zip(e.origin.tolist(), e.indices.tolist(), e.relation.tolist()))
    items = {int(i): (g.type_names[k], int(c)) for i, k, c in zip(g.ids.tolist(), g.item_type, g.criticality)
             if i in alive}
    assert all(e.indptr[p] <= e.indptr[p + 1] for p in range(len(g.ids)))
    assert all(e.origin[k] == p for p in range(len(g.ids)) for k in range(e.indptr[p], e.indptr[p + 1]))
    return items, edges


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=graphs, batches=st.lists(write_steps, min_size=1, max_size=3))
def test_writes_merged_into_an_index_give_the_index_built_from_scratch(case, batches):
    n, relation_list, _, _, _ = case
    items = {i + 1: ("thing", "low") for i in range(n)}
    relations = {(s + 1, t + 1, r) for s, t, r in relation_list}
    current = _built(items, relations)
    for generation, steps in enumerate(batches, 1):
        merged = current.apply(_play(items, relations, steps), generation)
        assert merged is not None and merged.generation == generation
        assert _facts(merged, set(items)) == _facts(_built(items, relations), set(items))
        current = merged


def test_a_reused_id_or_a_rebuild_write_asks_for_a_full_rebuild():
    from changegate.core.cmdb.graph import Write

    g = index(3, [(0, 1, 0)], ids=[10, 20, 30])
    assert g.apply([Write("item", 5, kind="thing")], 1) is None  # would not come after every known id
    assert g.apply([Write("rebuild")], 1) is None
    assert g.apply([Write("relation", 10, 99, "depends_on")], 1) is None  # an item the index does not hold
    assert g.apply([Write("item", 40, kind="thing"), Write("relation", 40, 10, "depends_on")], 1) is not None


@settings(max_examples=150, deadline=None, derandomize=True)
@given(case=graphs)
def test_reaches_says_whether_the_impact_holds_an_item(case):
    n, relations, touched, _, _ = case
    g = index(n, relations)
    expected, _ = brute_force(n, relations, set(touched), None, None)
    assert [g.reaches(touched, p) for p in range(n)] == [expected.get(p, 0) > 0 for p in range(n)]
