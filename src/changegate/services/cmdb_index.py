"""The CMDB's graph index: one per database and process, never older than the stored generation.

Impact, curation and the schedule's conflicts through dependencies read it. It imports no ORM: ``uow`` is a
``UnitOfWork`` or a ``ReadOnlyUnit`` (db/reads.py), both of which have the raw reads as ``uow.cmdb``, so the
local ``schedule next-slot`` asks it without loading the ORM (issue 13).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Iterable

import numpy as np

from ..core.cmdb.graph import GraphIndex, Write
from ..core.cmdb.policy import CRITICALITY_RANK, Criticality
from ..core.policy.model import Policy


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: GraphIndex | None = None
        self.previous: GraphIndex | None = None  # for a query whose snapshot is one write older
        self.shape: tuple = ()


_INDEXES: "weakref.WeakKeyDictionary[Any, _Slot]" = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()
CATCH_UP_LIMIT = 50_000  # writes merged into an index at most; more, and reading everything again is as cheap


def _shape(policy: Policy) -> tuple:
    """What of the policy the index is built with: a different policy means a different index."""
    return tuple((name, r.impact) for name, r in policy.cmdb.relation_types.items())


def graph(uow: Any, policy: Policy) -> GraphIndex:
    """This process's index of the database ``uow`` reads, at the generation of the unit of work's snapshot (one
    primary-key read per call): when a write moved it, the writes since the index's generation are merged in, or,
    past ``CATCH_UP_LIMIT`` or a large import, the index is built again.

    The generation and the rows are read in one snapshot (``uow.cmdb.snapshot()``, which the use case calls before
    its first CMDB read, so its other reads agree with the index too): an index built from rows newer than its
    label would merge those writes again when it catches up, and a deleted relation would outlive its deletion.
    An index that holds the unit of work's own uncommitted writes, or that is older than the one kept, serves
    this caller only."""
    with _INDEXES_LOCK:
        slot = _INDEXES.setdefault(uow.cmdb.index_key(), _Slot())
    generation, shape = uow.cmdb.snapshot(), _shape(policy)
    if uow.cmdb.own_writes():  # uncommitted: another write may yet commit under this generation
        return _fresh(uow, policy, slot.index if slot.shape == shape else None, generation)
    for index in (slot.index, slot.previous):
        if index is not None and index.generation == generation and slot.shape == shape:
            return index
    with slot.lock:  # one update at a time; the others wait for it and then use it
        index = slot.index
        if index is None or index.generation != generation or slot.shape != shape:
            fresh = _fresh(uow, policy, index if slot.shape == shape else None, generation)
            if index is not None and index.generation > generation and slot.shape == shape:
                return fresh  # an older snapshot's (its query started before the write): the newer index stays
            slot.previous = index if slot.shape == shape else None
            slot.index, slot.shape, index = fresh, shape, fresh
    return index


def _fresh(uow: Any, policy: Policy, index: GraphIndex | None, generation: int) -> GraphIndex:
    return _caught_up(uow, index, generation) or build_index(uow, policy, generation)


def _caught_up(uow: Any, index: GraphIndex | None, generation: int) -> GraphIndex | None:
    """``index`` with the logged writes up to ``generation`` merged in; None if it has to be built again."""
    if index is None or index.generation > generation:  # a snapshot older than the index: build what it sees
        return None
    rows = uow.cmdb.writes_between(index.generation, generation, CATCH_UP_LIMIT)
    if rows is None:
        return None
    return index.apply([Write(op, a, b, kind, criticality) for _, op, a, b, kind, criticality in rows], generation)


def warm(runtime: Any) -> None:
    """Build the index of ``runtime``'s database now (a server at start-up), not on the first request."""
    with runtime.uow(write=False) as uow:
        uow.read_snapshot()
        if uow.cmdb.has_items():
            graph(uow, runtime.policy)


def cached_index(runtime: Any) -> GraphIndex | None:
    """The index this process holds for ``runtime``'s database, if any (what a warm start built)."""
    with runtime.uow(write=False) as uow, _INDEXES_LOCK:
        slot = _INDEXES.get(uow.cmdb.index_key())
    return slot.index if slot else None


def build_index(uow: Any, policy: Policy, generation: int) -> GraphIndex:
    """The index from everything stored, read as integer codes in chunks (see ``graph_rows``)."""
    type_names, relation_names = list(policy.cmdb.item_types), list(policy.cmdb.relation_types)
    while True:
        item_chunks, relation_chunks = uow.cmdb.graph_rows(type_names, relation_names, list(CRITICALITY_RANK))
        ids, kinds, ranks = _columns(item_chunks, (np.int64, np.int16, np.int8))
        sources, targets, codes = _columns(relation_chunks, (np.int64, np.int64, np.int16))
        if kinds.min(initial=0) >= 0 and codes.min(initial=0) >= 0:
            break
        # a type the policy no longer lists is still stored (rare): name it too, and read again
        type_names += uow.cmdb.unlisted_types("cmdb_items", type_names)
        relation_names += uow.cmdb.unlisted_types("cmdb_relations", relation_names)
    ranks[ranks < 0] = CRITICALITY_RANK[Criticality.MEDIUM]  # a criticality the code does not know
    directions = {name: r.impact for name, r in policy.cmdb.relation_types.items()}
    return GraphIndex.build(ids, kinds, ranks, type_names, sources, targets, codes, relation_names, directions,
                            generation)


def _columns(chunks: Iterable[list[tuple]], dtypes: tuple) -> list[np.ndarray]:
    """Integer rows, chunk by chunk, as one array per column (a chunk's rows are flattened in C)."""
    parts: list[list[np.ndarray]] = [[] for _ in dtypes]
    for rows in chunks:
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows) * len(dtypes))
        flat = flat.reshape(len(rows), len(dtypes))
        for column, dtype in enumerate(dtypes):
            parts[column].append(flat[:, column].astype(dtype))
    return [np.concatenate(p) if p else np.zeros(0, dtype=d) for p, d in zip(parts, dtypes)]


# --- dependencies between sets of items: the schedule's conflicts through the CMDB --------------------------

Ask = tuple[Iterable[str], Iterable[str]]  # (touched items, candidate items)


def dependency_paths(uow: Any, policy: Policy, asks: list[Ask]) -> list[dict[str, str]]:
    """For each (touched, among): which of ``among`` the touched items impact, each with the path that
    explains it ("line-3 ← mes-core ← db-mes-prod"). Names the CMDB does not hold are left out.

    Three queries however many asks (the ids, the generation, the names on the paths); each distinct touched
    set is searched once, in memory, and its search let go before the next (at a million items a search
    reaching half the graph holds 12 MB)."""
    asks = [(frozenset(t), frozenset(a)) for t, a in asks]
    uow.cmdb.snapshot()  # the ids, the index and the names: one state of the CMDB
    ids = uow.cmdb.ids_by_names({n for t, a in asks for n in (*t, *a)})
    found: list[dict[str, list]] = [{} for _ in asks]
    if ids:
        index = graph(uow, policy)
        position = dict(zip(ids, index.positions(ids.values()).tolist()))
        by_touched: dict[frozenset, list[int]] = {}
        for k, (touched, _) in enumerate(asks):
            by_touched.setdefault(frozenset(position[n] for n in touched if n in position), []).append(k)
        for sources, which in by_touched.items():
            if sources:
                _answer(index.impact(sources), sources, [(k, asks[k][1]) for k in which], position, found)
        involved = {int(index.ids[q]) for paths in found for steps in paths.values() for q, _ in steps}
        info = uow.cmdb.names_by_ids(involved) if involved else {}
        return [{n: " ← ".join(info[int(index.ids[q])][0] for q, _ in steps) for n, steps in paths.items()}
                for paths in found]
    return [{} for _ in asks]


def _answer(reach, sources: frozenset, asks: list[tuple[int, frozenset]], position: dict, found: list) -> None:
    for k, among in asks:
        for name in among:
            p = position.get(name)
            if p is not None and p not in sources and reach.distance_of(p) > 0:
                found[k][name] = reach.path(p)
