"""The CMDB's graph index: CSR arrays over item positions, and impact by breadth-first search.

Items are positions 0..n-1 (``ids`` holds the database id of each, sorted). Each relation becomes one
or two *impact edges*, pointing the way a change travels (policy ``relation_types.<t>.impact``): for
``A depends_on B`` the edge runs B → A. Impact is a breadth-first search over those edges from the
touched items, level by level in numpy, so each reached item gets its distance and the edge it was
first reached by; following those edges back gives the path that explains it. A visited item is never
expanded twice, so cycles terminate.

An index is immutable. ``GraphIndex.apply`` answers a new one with a few writes merged in (new items take
positions after every known one, as database ids only grow), in a few passes over the arrays and without
sorting them again: what keeps an index current after a write without reading the whole CMDB again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .policy import CRITICALITY_RANK, Direction

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Edges:
    """One CSR view: the impact edges leaving position ``p`` are ``indices[indptr[p]:indptr[p+1]]``;
    ``relation[k]`` is the relation-type code of edge ``k``."""

    indptr: np.ndarray
    indices: np.ndarray
    relation: np.ndarray
    origin: np.ndarray  # the position edge ``k`` leaves from: explaining a path is one lookup per step

    def row_of(self, edge: int) -> int:
        """The position an edge leaves from."""
        return int(self.origin[edge])


def _csr(n: int, origin: np.ndarray, target: np.ndarray, relation: np.ndarray) -> Edges:
    order = np.argsort(origin, kind="stable")
    return _csr_sorted(n, origin[order], target[order], relation[order])


def _csr_sorted(n: int, origin: np.ndarray, target: np.ndarray, relation: np.ndarray) -> Edges:
    """The CSR of edges already in order of origin."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(origin, minlength=n), out=indptr[1:])
    # int32 positions: half the memory of int64 at a million items, and as fast to index with
    return Edges(indptr, target.astype(np.int32, copy=False), relation.astype(np.int16, copy=False),
                 origin.astype(np.int32, copy=False))


@dataclass(frozen=True, eq=False)
class Reach:
    """What a search found: the reached positions in order of distance, each one's distance and the edge
    it was reached by (-1 for the touched items)."""

    edges: Edges
    touched: np.ndarray
    reached: np.ndarray  # excludes the touched items, ordered by distance
    distance: Any  # position → distance: a dict (small searches) or an array over every position (-1: unreached)
    via: Any  # position → the edge that first reached it (-1 for the touched), dict or array as ``distance``

    def distance_of(self, position: int) -> int:
        """-1 if not reached."""
        if isinstance(self.distance, dict):
            return self.distance.get(position, -1)
        return int(self.distance[position])

    def path(self, position: int) -> list[tuple[int, int]]:
        """[(position, relation code of the edge that reached it)…] from ``position`` back to a touched
        item (whose relation code is -1)."""
        steps = []
        while True:
            edge = int(self.via[position])
            if edge < 0:
                steps.append((position, -1))
                return steps
            steps.append((position, int(self.edges.relation[edge])))
            position = self.edges.row_of(edge)

    def paths(self, positions: Sequence[int]) -> list[list[tuple[int, int]]]:
        """``path`` of each position: walked back one level at a time for all of them at once (a listed impact
        of 200 items far from the touched ones is a few numpy steps, not a Python loop per step)."""
        at = np.asarray(positions, dtype=np.int64)
        if isinstance(self.via, dict) or at.size < 8:
            return [self.path(int(p)) for p in at]
        e, columns, relations = self.edges, [at], []
        while True:
            current = columns[-1]  # -1 where a path already ended (never an index: -1 would be the last item)
            edge = np.where(current >= 0, self.via[np.maximum(current, 0)], -1)
            walking = edge >= 0
            relations.append(np.where(walking, e.relation[np.maximum(edge, 0)], -1))
            if not walking.any():
                break
            columns.append(np.where(walking, e.origin[np.maximum(edge, 0)], -1))
        rows = np.stack(columns, axis=1).tolist()
        kinds = np.stack(relations, axis=1)
        lengths = (np.argmax(kinds < 0, axis=1) + 1).tolist()
        return [list(zip(row[:k], kind[:k])) for row, kind, k in zip(rows, kinds.tolist(), lengths)]


@dataclass(eq=False)
class GraphIndex:
    """Built once per generation of the CMDB (see services/cmdb.py); pure and read-only afterwards."""

    ids: np.ndarray  # database id of each position, ascending
    item_type: np.ndarray  # type code per position (index into ``type_names``)
    criticality: np.ndarray  # rank per position: low 0 … critical 3
    type_names: tuple[str, ...]
    relation_names: tuple[str, ...]
    edges: Edges
    generation: int = 0
    directions: Mapping[str, Direction] = field(default_factory=dict)
    built: int = 0  # the generation it was last built from scratch at (``apply`` keeps it)
    _filtered: dict = field(default_factory=dict)

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, item_type: Sequence[int] | np.ndarray,
              criticality: Sequence[int] | np.ndarray, type_names: Sequence[str],
              relation_source: Sequence[int] | np.ndarray, relation_target: Sequence[int] | np.ndarray,
              relation_type: Sequence[int] | np.ndarray, relation_names: Sequence[str],
              directions: Mapping[str, Direction], generation: int = 0) -> "GraphIndex":
        """Relations are given by item id and relation-type code; ids need not be sorted."""
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        n = len(ids)
        src, dst = _positions_of(ids, relation_source), _positions_of(ids, relation_target)
        rel = np.asarray(relation_type, dtype=np.int16)
        origin, target, relation = _impact_edges(src, dst, rel, relation_names, directions)
        return cls(ids=ids, item_type=np.asarray(item_type, dtype=np.int16)[order],
                   criticality=np.asarray(criticality, dtype=np.int8)[order], type_names=tuple(type_names),
                   relation_names=tuple(relation_names), edges=_csr(n, origin, target, relation),
                   generation=generation, directions=dict(directions), built=generation)

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: Iterable[int]) -> np.ndarray:
        """Positions of these item ids (each must be in the index)."""
        wanted = np.asarray(list(ids), dtype=np.int64)
        found = np.searchsorted(self.ids, wanted)
        if len(wanted) and (found.max(initial=0) >= len(self.ids) or np.any(self.ids[found] != wanted)):
            raise KeyError("an item id is not in the index")
        return found

    def edges_for(self, relation_types: Iterable[str] | None) -> Edges:
        """The CSR of all edges, or of the edges of these relation types only (built once per set)."""
        if not relation_types:
            return self.edges
        key = frozenset(relation_types)
        cached = self._filtered.get(key)
        if cached is None:
            codes = [i for i, name in enumerate(self.relation_names) if name in key]
            e = self.edges
            keep = np.isin(e.relation, codes)
            cached = _csr_sorted(len(self.ids), e.origin[keep], e.indices[keep], e.relation[keep])
            self._filtered[key] = cached
        return cached

    def impact(self, touched: Iterable[int], *, relation_types: Iterable[str] | None = None,
               max_depth: int | None = None) -> Reach:
        """Everything the touched positions impact, transitively (``max_depth`` hops at most)."""
        edges = self.edges_for(relation_types)
        sources = np.unique(np.asarray(list(touched), dtype=np.int64))
        distance, via, reached = bfs(edges.indptr, edges.indices, sources, max_depth)
        return Reach(edges, sources, reached, distance, via)


    def reaches(self, touched: Iterable[int], target: int) -> bool:
        """Whether ``target`` is impacted by the touched positions (not one of them): a search that stops at
        the level that meets it."""
        e = self.edges
        frontier = np.unique(np.asarray(list(touched), dtype=np.int64))
        seen = np.zeros(len(self.ids), dtype=bool)
        seen[frontier] = True
        if seen[target]:
            return False
        while frontier.size:
            starts = e.indptr[frontier]
            counts = e.indptr[frontier + 1] - starts
            ends = np.cumsum(counts)
            nxt = e.indices[np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(starts - (ends - counts), counts)]
            frontier = np.unique(nxt[~seen[nxt]])
            seen[frontier] = True
            if seen[target]:
                return True
        return False

    def apply(self, writes: Sequence["Write"], generation: int) -> "GraphIndex | None":
        """A new index with these writes (oldest first) merged in, at ``generation``; None when only a full
        rebuild can tell (a write says so, or an item id that does not come after every known one)."""
        if any(w.op == "rebuild" for w in writes):
            return None
        return _Merge(self, writes).result(generation)


@dataclass(frozen=True, slots=True)
class Write:
    """One write as the index needs it (the CMDB's write log, services/cmdb.py).

    ``op``: ``item`` (created or edited: ``a`` its id, ``kind`` its type, and its criticality),
    ``item_deleted`` (``a``; its relations go with it), ``relation`` / ``relation_deleted`` (``a`` the
    source id, ``b`` the target id, ``kind`` the relation type), ``none`` (nothing the index holds, e.g. an
    owner edited) or ``rebuild`` (too much at once, e.g. a large import: read everything again)."""

    op: str
    a: int = 0
    b: int = 0
    kind: str = ""
    criticality: str = ""


class _Merge:
    """Folds writes into an index's arrays: net relation changes first, then one pass over the edges."""

    def __init__(self, index: GraphIndex, writes: Sequence[Write]):
        self.index = index
        self.type_names = list(index.type_names)
        self.relation_names = list(index.relation_names)
        self.new_items: dict[int, tuple[int, int]] = {}  # id -> (type code, rank)
        self.edits: dict[int, tuple[int, int]] = {}  # position -> (type code, rank)
        self.deleted: set[int] = set()  # item ids
        self.added: dict[tuple[int, int, int], None] = {}  # (source id, target id, relation code)
        self.removed: set[tuple[int, int, int]] = set()
        self.valid = all(self._fold(w) for w in writes)

    def _code(self, names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def _fold(self, w: Write) -> bool:
        if w.op == "item":
            value = (self._code(self.type_names, w.kind), CRITICALITY_RANK.get(w.criticality, 1))
            position = self._position(w.a)
            if position is not None:
                self.edits[position] = value
            elif w.a > self._last_id():
                self.new_items[w.a] = value
            else:
                return False  # a reused id: positions would no longer follow the ids
        elif w.op == "item_deleted":
            if self.new_items.pop(w.a, None) is None:
                self.deleted.add(w.a)
            self.added = {k: None for k in self.added if w.a not in k[:2]}
        elif w.op in ("relation", "relation_deleted"):
            key = (w.a, w.b, self._code(self.relation_names, w.kind))
            if w.op == "relation" and key in self.removed:  # deleted, then created again
                self.removed.discard(key)
            elif w.op == "relation":
                self.added[key] = None
            elif key in self.added:  # created, then deleted again
                del self.added[key]
            else:
                self.removed.add(key)
        return w.op in ("item", "item_deleted", "relation", "relation_deleted", "none")

    def _last_id(self) -> int:
        return int(self.index.ids[-1]) if len(self.index.ids) else 0

    def _position(self, item_id: int) -> int | None:
        ids = self.index.ids
        p = int(np.searchsorted(ids, item_id))
        return p if p < len(ids) and int(ids[p]) == item_id else None

    def result(self, generation: int) -> GraphIndex | None:
        if not self.valid:
            return None
        old, new = self.index, sorted(self.new_items.items())
        ids = np.concatenate([old.ids, np.array([i for i, _ in new], dtype=np.int64)])
        kinds = np.concatenate([old.item_type, np.array([v[0] for _, v in new], dtype=np.int16)])
        ranks = np.concatenate([old.criticality, np.array([v[1] for _, v in new], dtype=np.int8)])
        for position, (kind, rank) in self.edits.items():
            kinds[position], ranks[position] = kind, rank
        edges = self._edges(ids)
        if edges is None:
            return None
        return GraphIndex(ids=ids, item_type=kinds, criticality=ranks, type_names=tuple(self.type_names),
                          relation_names=tuple(self.relation_names), edges=edges, generation=generation,
                          directions=old.directions, built=old.built)

    def _impact(self, ids: np.ndarray, triples) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        triples = list(triples)
        src = np.searchsorted(ids, np.array([t[0] for t in triples], dtype=np.int64))
        dst = np.searchsorted(ids, np.array([t[1] for t in triples], dtype=np.int64))
        ends = np.concatenate([src, dst])
        wanted = np.array([t[i] for i in (0, 1) for t in triples], dtype=np.int64)
        if np.any(ends >= len(ids)) or np.any(ids[np.minimum(ends, len(ids) - 1)] != wanted):
            return None  # a relation to an item the index does not hold: read everything again
        rel = np.array([t[2] for t in triples], dtype=np.int16)
        return _impact_edges(src, dst, rel, self.relation_names, self.index.directions)

    def _edges(self, ids: np.ndarray) -> Edges | None:
        e, n = self.index.edges, len(ids)
        keep = np.ones(len(e.indices), dtype=bool)
        gone = np.searchsorted(ids, np.fromiter(self.deleted, dtype=np.int64, count=len(self.deleted)))
        if gone.size:
            keep &= ~(np.isin(e.origin, gone) | np.isin(e.indices, gone))
        removed = self._impact(ids, self.removed) if self.removed else None
        added = self._impact(ids, self.added) if self.added else None
        if (self.removed and removed is None) or (self.added and added is None):
            return None
        for o, t, r in zip(*removed) if removed else ():
            start = int(e.indptr[o])
            row = slice(start, int(e.indptr[o + 1]))
            hits = np.nonzero((e.indices[row] == t) & (e.relation[row] == r) & keep[row])[0]
            keep[start + hits[:1]] = False  # one edge per removed edge: two relations may give the same one
        origin, target, relation = e.origin[keep], e.indices[keep], e.relation[keep]
        if added is not None:
            order = np.argsort(added[0], kind="stable")
            o, t, r = (a[order] for a in added)
            at = np.searchsorted(origin, o, side="right")  # after the row's kept edges: rows stay in order
            origin, target, relation = np.insert(origin, at, o), np.insert(target, at, t), np.insert(relation, at, r)
        return _csr_sorted(n, origin, target, relation)


def _positions_of(ids: np.ndarray, wanted: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions of ids known to be in ``ids`` (sorted): a direct table when the ids are dense (database ids
    nearly always are), a binary search otherwise."""
    wanted = np.asarray(wanted, dtype=np.int64)
    if len(ids) and 0 <= ids[0] and ids[-1] < 4 * len(ids) + 1024:
        table = np.zeros(int(ids[-1]) + 1, dtype=np.int32)
        table[ids] = np.arange(len(ids), dtype=np.int32)
        return table[wanted]
    return np.searchsorted(ids, wanted)


def _impact_edges(src: np.ndarray, dst: np.ndarray, rel: np.ndarray, relation_names: Sequence[str],
                  directions: Mapping[str, Direction]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each relation as the edges impact travels along: target → source, source → target, or both."""
    backward = np.array([directions.get(name) in ("to_source", "both") for name in relation_names] or [False])
    forward = np.array([directions.get(name) in ("to_target", "both") for name in relation_names] or [False])
    back = backward[rel] if len(rel) else np.zeros(0, dtype=bool)
    fwd = forward[rel] if len(rel) else np.zeros(0, dtype=bool)
    origin = np.concatenate([dst[back], src[fwd]]).astype(np.int64, copy=False)
    target = np.concatenate([src[back], dst[fwd]]).astype(np.int64, copy=False)
    relation = np.concatenate([rel[back], rel[fwd]]).astype(np.int16, copy=False)
    return origin, target, relation


SMALL = 512  # positions reached before the search moves from Python dicts to arrays over every position


def bfs(indptr: np.ndarray, indices: np.ndarray, sources: np.ndarray,
        max_depth: int | None = None) -> tuple[Any, Any, np.ndarray]:
    """Breadth-first search from ``sources``, level by level.

    Returns (distance of each reached position, the edge that first reached it (-1 for the sources), the
    reached positions but the sources in order of distance). A small search stays in Python dicts, so a
    typical change's impact costs nothing in the size of the graph; past ``SMALL`` positions it moves to
    arrays over every position, and each level becomes a handful of numpy passes over the edges leaving
    the frontier (no Python per edge). The first two results are then arrays, -1 where unreached."""
    distance: Any = {int(p): 0 for p in sources}
    via: Any = dict.fromkeys(distance, -1)
    frontier, levels, depth = list(distance), [], 0
    while frontier and (max_depth is None or depth < max_depth) and len(distance) <= SMALL:
        depth += 1
        level = []
        for p in frontier:
            start = int(indptr[p])
            for k, q in enumerate(indices[start:int(indptr[p + 1])].tolist(), start):
                if q not in distance:
                    distance[q], via[q] = depth, k
                    level.append(q)
        frontier = level
        if level:
            levels.append(np.asarray(level, dtype=np.int64))
    if not frontier or (max_depth is not None and depth >= max_depth):
        return distance, via, np.concatenate(levels) if levels else _EMPTY
    return _bfs_arrays(indptr, indices, distance, via, np.asarray(frontier, dtype=np.int64), levels, depth, max_depth)


def _bfs_arrays(indptr: np.ndarray, indices: np.ndarray, found: dict, found_via: dict, frontier: np.ndarray,
                levels: list, depth: int, max_depth: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(indptr) - 1
    distance = np.full(n, -1, dtype=np.int32)
    via = np.full(n, -1, dtype=np.int64)
    known = np.fromiter(found, dtype=np.int64, count=len(found))
    distance[known] = np.fromiter(found.values(), dtype=np.int32, count=len(found))
    via[known] = np.fromiter(found_via.values(), dtype=np.int64, count=len(found))
    slot = np.empty(n, dtype=np.int64)  # scratch for keeping one occurrence of each new position
    while frontier.size and (max_depth is None or depth < max_depth):
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        total = int(counts.sum())
        if total == 0:
            break
        ends = np.cumsum(counts)
        edge = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)
        nxt = indices[edge]
        fresh = distance[nxt] < 0
        edge, nxt = edge[fresh], nxt[fresh]
        if not nxt.size:
            break
        order = np.arange(nxt.size, dtype=np.int64)
        slot[nxt] = order  # the last occurrence of each position wins…
        keep = slot[nxt] == order  # …and only it is kept, so each new position is listed once
        frontier, edge = nxt[keep], edge[keep]
        depth += 1
        distance[frontier] = depth
        via[frontier] = edge
        levels.append(frontier)
    reached = np.concatenate(levels) if levels else _EMPTY
    return distance, via, reached
